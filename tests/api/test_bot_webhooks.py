"""Bot-level webhook URLs are checked against the SSRF guard when the bot is created."""

import pytest


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://[::1]/hook",
        "https://169.254.169.254/latest",
    ],
)
def test_private_and_loopback_targets_are_refused_at_creation(client, project, url):
    body = {
        "meeting_url": "http://127.0.0.1:8000/rooms/a",
        "bot_name": "B",
        "webhooks": [{"url": url, "triggers": ["bot.state_change"]}],
    }
    response = client.post("/api/v1/bots", json=body, headers=project.headers)
    assert response.status_code == 400
    assert "non-public address" in response.json()["webhooks"][0]
    assert client.get("/api/v1/bots", headers=project.headers).json()["results"] == []


def test_public_https_targets_are_accepted(client, project):
    body = {
        "meeting_url": "http://127.0.0.1:8000/rooms/a",
        "bot_name": "B",
        "webhooks": [{"url": "https://93.184.215.14/hook", "triggers": ["bot.state_change"]}],
    }
    assert client.post("/api/v1/bots", json=body, headers=project.headers).status_code == 201
