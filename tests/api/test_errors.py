"""One handler per kind of ``sitin.core.errors``: each renders Attendee's wire shape, whatever
route raised it."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sitin.api import errors
from sitin.core.errors import (
    BotNotFound,
    FieldErrors,
    NotFound,
    RuleError,
    StoragePending,
    WebhookNotFound,
)

RAISED = {
    "field": FieldErrors({"meeting_url": ["This field is required."]}),
    "rule": RuleError("Bot is in state ended and cannot pause recording."),
    "bot": BotNotFound("bot_x"),
    "webhook": WebhookNotFound("webhook_x"),
    "recording": NotFound("No recording found for bot", "bot_x"),
    "pending": StoragePending("The bot's data is fenced", retry_after=7),
}


@pytest.fixture(scope="module")
def client():
    app = FastAPI()
    errors.install(app)

    @app.get("/api/raise/{kind}")
    def raise_it(kind: str):
        raise RAISED[kind]

    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("kind", "status", "body"),
    [
        ("field", 400, {"meeting_url": ["This field is required."]}),
        ("rule", 400, {"error": "Bot is in state ended and cannot pause recording."}),
        ("bot", 404, {"error": "Bot not found"}),
        ("webhook", 404, {"error": "Webhook not found"}),
        ("recording", 404, {"error": "No recording found for bot"}),
        ("pending", 503, {"error": "The bot's data is fenced"}),
    ],
)
def test_each_kind_has_its_status_and_shape(client, kind, status, body):
    response = client.get(f"/api/raise/{kind}")
    assert (response.status_code, response.json()) == (status, body)


def test_storage_pending_tells_the_client_when_to_come_back(client):
    assert client.get("/api/raise/pending").headers["Retry-After"] == "7"


def test_an_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/nothing-here")
    assert (response.status_code, response.json()) == (404, {"error": "Not found"})
