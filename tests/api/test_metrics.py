"""``/metrics`` is the operator's: off (404 naming SITIN_METRICS_TOKEN) without a token, 401 for
anything but ``Bearer <token>`` (a project's API key included), Prometheus text with it: bots by
state across projects, and no bot or project id."""

import pytest

from support.settings import ROOM_URL

TOKEN = "operator-metrics-token"


def test_metrics_are_off_without_a_token(client, project):
    response = client.get("/metrics", headers=project.headers)
    assert response.status_code == 404
    assert "SITIN_METRICS_TOKEN" in response.json()["error"]


@pytest.mark.parametrize("settings_overrides", [{"metrics_token": TOKEN}])
def test_metrics_answer_only_the_operators_token(client, project, other_project):
    body = {"meeting_url": ROOM_URL, "bot_name": "Notetaker"}
    bots = [
        client.post("/api/v1/bots", json=body, headers=owner.headers).json()
        for owner in (project, other_project)
    ]
    for headers in ({}, project.headers, {"Authorization": f"Bearer {TOKEN}x"}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    lines = answer.text.splitlines()
    assert 'sitin_bots{state="joining"} 2.0' in lines  # every project's bots
    assert 'sitin_bots{state="ended"} 0.0' in lines
    for name in ("sitin_queue_depth", "sitin_webhook_backlog", "sitin_deletion_journal_length"):
        assert any(line.startswith(f"{name} ") for line in lines), name
    for secret in (*[bot["id"] for bot in bots], project.id, other_project.id):
        assert secret not in answer.text
