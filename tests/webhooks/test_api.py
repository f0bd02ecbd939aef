"""``/api/v1/webhooks`` and ``/api/v1/bots/{id}/webhook_deliveries``: shapes, validation, paging,
and isolation between projects."""

from sqlalchemy import select

from sitin.core.states import EventType
from sitin.db.tables import webhook_delivery_attempts
from support.projects import create_project
from webhooks.helpers import JOIN, advance

HOOK = "https://hooks.example.com/sitin"


def test_create_list_get_delete(client, project):
    response = client.post(
        "/api/v1/webhooks",
        json={"url": HOOK, "triggers": ["bot.state_change", "transcript.update"]},
        headers=project.headers,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"].startswith("webhook_") and len(created["id"]) == len("webhook_") + 16
    assert created["url"] == HOOK
    assert created["triggers"] == ["bot.state_change", "transcript.update"]
    assert created["is_active"] is True
    assert created["created_at"].endswith("Z")

    listed = client.get("/api/v1/webhooks", headers=project.headers).json()
    assert listed == {"next": None, "previous": None, "results": [created]}
    fetched = client.get(f"/api/v1/webhooks/{created['id']}", headers=project.headers)
    assert fetched.json() == created

    again = client.post(
        "/api/v1/webhooks",
        json={"url": HOOK, "triggers": ["bot_logs.update"]},
        headers=project.headers,
    )
    assert again.status_code == 400
    assert "already subscribed" in again.json()["url"][0]

    deleted = client.delete(f"/api/v1/webhooks/{created['id']}", headers=project.headers)
    assert deleted.status_code == 200 and deleted.content == b""
    gone = client.delete(f"/api/v1/webhooks/{created['id']}", headers=project.headers)
    assert gone.status_code == 404 and gone.json() == {"error": "Webhook not found"}
    assert client.get("/api/v1/webhooks", headers=project.headers).json()["results"] == []


def test_invalid_bodies_name_the_problem(client, project):
    cases = [
        ({"triggers": ["bot.state_change"]}, "url"),
        ({"url": HOOK, "triggers": []}, "triggers"),
        ({"url": HOOK, "triggers": ["bot.exploded"]}, "triggers"),
        ({"url": HOOK, "triggers": ["bot_logs.update", "bot_logs.update"]}, "triggers"),
        ({"url": HOOK, "triggers": ["bot_logs.update"], "is_active": "yes"}, "is_active"),
        ({"url": HOOK, "triggers": ["bot_logs.update"], "secret": "x"}, "non_field_errors"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/webhooks", json=body, headers=project.headers)
        assert response.status_code == 400, body
        assert field in response.json(), response.json()
    invalid = client.post(
        "/api/v1/webhooks",
        json={"url": HOOK, "triggers": ["bot.exploded"]},
        headers=project.headers,
    ).json()["triggers"][0]
    assert "Valid triggers: bot.state_change" in invalid


def test_webhooks_are_scoped_to_the_callers_project(ctx, client, project):
    other = create_project(ctx, "other")
    created = client.post(
        "/api/v1/webhooks",
        json={"url": HOOK, "triggers": ["bot_logs.update"]},
        headers=project.headers,
    ).json()
    assert client.get("/api/v1/webhooks", headers=other.headers).json()["results"] == []
    assert client.get(f"/api/v1/webhooks/{created['id']}", headers=other.headers).status_code == 404
    response = client.delete(f"/api/v1/webhooks/{created['id']}", headers=other.headers)
    assert response.status_code == 404
    assert client.get("/api/v1/webhooks").status_code == 401


def test_bot_level_subscriptions_are_not_listed_or_deletable(client, project, new_bot):
    new_bot(webhooks=[{"url": HOOK, "triggers": ["bot.state_change"]}])
    assert client.get("/api/v1/webhooks", headers=project.headers).json()["results"] == []


def test_deliveries_are_listed_page_by_page_oldest_first(ctx, client, project, new_bot):
    bot = new_bot(webhooks=[{"url": HOOK, "triggers": ["bot.state_change"]}])
    advance(ctx, bot["id"], *JOIN)
    for _ in range(12):  # 1 + 2 + 24 state changes: 27 deliveries (pending: no worker runs)
        advance(ctx, bot["id"], EventType.RECORDING_PAUSED, EventType.RECORDING_RESUMED)
    with ctx.db.read() as conn:
        total = len(conn.execute(select(webhook_delivery_attempts.c.id)).all())
    assert total == 27

    url = f"/api/v1/bots/{bot['id']}/webhook_deliveries"
    first = client.get(url, headers=project.headers).json()
    assert len(first["results"]) == 25 and first["previous"] is None
    second = client.get(first["next"], headers=project.headers).json()
    assert len(second["results"]) == 2 and second["next"] is None
    everything = first["results"] + second["results"]
    assert [d["payload"]["data"]["new_state"] for d in everything][:3] == [
        "joining",
        "joined_not_recording",
        "joined_recording",
    ]
    delivery = everything[0]
    assert delivery["status"] == "pending"
    assert delivery["attempt_count"] == 0 and delivery["attempts"] == []
    assert delivery["url"] == HOOK and delivery["trigger"] == "bot.state_change"
    assert delivery["webhook_id"].startswith("webhook_")
    assert delivery["created_at"].endswith("Z")
    back = client.get(second["previous"], headers=project.headers).json()
    assert back["results"] == first["results"]


def test_another_projects_bot_is_not_found(ctx, client, project, new_bot):
    bot = new_bot()
    other = create_project(ctx, "other")
    url = f"/api/v1/bots/{bot['id']}/webhook_deliveries"
    response = client.get(url, headers=other.headers)
    assert response.status_code == 404 and response.json() == {"error": "Bot not found"}
    missing = client.get(
        "/api/v1/bots/bot_0000000000000000/webhook_deliveries", headers=project.headers
    )
    assert missing.status_code == 404 and missing.json() == {"error": "Bot not found"}


def test_patch_changes_what_is_given_and_validates_like_create(client, project, other_project):
    def create(url: str) -> dict:
        response = client.post(
            "/api/v1/webhooks",
            json={"url": url, "triggers": ["bot.state_change"]},
            headers=project.headers,
        )
        assert response.status_code == 201, response.text
        return response.json()

    first, second = create(HOOK), create(HOOK + "/second")
    path = f"/api/v1/webhooks/{first['id']}"
    changed = client.patch(
        path, json={"triggers": ["transcript.update", "bot_logs.update"]}, headers=project.headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() == {**first, "triggers": ["transcript.update", "bot_logs.update"]}
    assert client.get(path, headers=project.headers).json() == changed.json()

    for body, field in [
        ({"triggers": []}, "triggers"),
        ({"triggers": ["bot.exploded"]}, "triggers"),
        ({"is_active": "no"}, "is_active"),
        ({"url": "ftp://hooks.example.com/x"}, "url"),
        ({"url": ""}, "url"),
        ({"url": second["url"]}, "url"),  # already subscribed
        ({"secret": "x"}, "non_field_errors"),
        ({}, "non_field_errors"),
        ([], "non_field_errors"),
    ]:
        refused = client.patch(path, json=body, headers=project.headers)
        assert refused.status_code == 400, body
        assert field in refused.json(), (body, refused.json())
    assert client.get(path, headers=project.headers).json() == changed.json()  # unchanged

    assert client.patch(path, json={"is_active": False}).status_code == 401
    elsewhere = client.patch(path, json={"is_active": False}, headers=other_project.headers)
    assert elsewhere.status_code == 404 and elsewhere.json() == {"error": "Webhook not found"}
    assert client.get(path, headers=project.headers).json()["is_active"] is True
