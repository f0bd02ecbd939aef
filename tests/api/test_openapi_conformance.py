"""Responses of the core routes validated against Attendee's published OpenAPI file.

Each response is checked with jsonschema against the schema that ``attendee-openapi.yml`` declares
for the same operation and status (as corrected by the API reference: support/attendee_openapi.py).
"""

from datetime import timedelta
from functools import cache
from typing import Any

import jsonschema
import pytest

from sitin.core.states import EventType
from sitin.core.timefmt import to_wire, utcnow
from sitin.db import capture
from support.attendee_openapi import corrected_document, to_json_schema


@cache
def _reference() -> dict[str, Any]:
    document = corrected_document()
    schemas = to_json_schema(document["components"]["schemas"])
    return {"paths": document["paths"], "components": {"schemas": schemas}}


def assert_conforms(method: str, path: str, status: int, response) -> None:
    """``response`` matches what the file declares for ``method path`` with ``status``."""
    assert response.status_code == status, response.text
    declared = _reference()["paths"][path][method.lower()]["responses"][str(status)]
    schema = to_json_schema(declared["content"]["application/json"]["schema"])
    validator = jsonschema.Draft202012Validator(
        {**schema, "components": _reference()["components"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    errors = sorted(validator.iter_errors(response.json()), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_checker_catches_a_wrong_response(client, project, new_bot):
    """Guard: a response that breaks the declared schema really fails."""
    response = client.get(f"/api/v1/bots/{new_bot()['id']}", headers=project.headers)

    class Broken:
        status_code = 200
        text = ""

        @staticmethod
        def json():
            return {**response.json(), "state": "asleep"}

    with pytest.raises(AssertionError, match="state"):
        assert_conforms("GET", "/api/v1/bots/{object_id}", 200, Broken)


@pytest.fixture
def full_bot(bot_in, ctx, capture_meeting):
    """A joined, recording bot with metadata, a dedup key and captured meeting data."""
    bot_id = bot_in("joined_recording", metadata={"team": "core"}, deduplication_key="weekly")
    capture_meeting(bot_id)
    key = f"bots/{bot_id}/recording.mp3"
    size = ctx.blobs.put_bytes(key, b"ID3")
    with ctx.db.write() as tx:
        capture.set_recording_file(
            tx, bot_id=bot_id, blob_key=key, blob_size=size, first_buffer_timestamp_ms=None
        )
    return bot_id


def test_bot_routes_conform(client, project, new_bot, bot_in, full_bot, advance):
    headers = project.headers
    created = client.post(
        "/api/v1/bots",
        json={"meeting_url": "http://127.0.0.1:8000/rooms/a", "bot_name": "N"},
        headers=headers,
    )
    assert_conforms("POST", "/api/v1/bots", 201, created)
    scheduled = client.post(
        "/api/v1/bots",
        json={
            "meeting_url": "http://127.0.0.1:8000/rooms/a",
            "bot_name": "N",
            "join_at": to_wire(utcnow() + timedelta(days=1)),
        },
        headers=headers,
    )
    assert_conforms("POST", "/api/v1/bots", 201, scheduled)
    for bot_id in (created.json()["id"], full_bot):
        response = client.get(f"/api/v1/bots/{bot_id}", headers=headers)
        assert_conforms("GET", "/api/v1/bots/{object_id}", 200, response)

    patched = client.patch(
        f"/api/v1/bots/{scheduled.json()['id']}", json={"metadata": {"a": "b"}}, headers=headers
    )
    assert_conforms("PATCH", "/api/v1/bots/{object_id}", 200, patched)

    left = client.post(f"/api/v1/bots/{full_bot}/leave", headers=headers)
    assert_conforms("POST", "/api/v1/bots/{object_id}/leave", 200, left)
    advance(full_bot, events=[(EventType.LEFT_MEETING, None)])
    ended = client.get(f"/api/v1/bots/{full_bot}", headers=headers)
    assert_conforms("GET", "/api/v1/bots/{object_id}", 200, ended)

    for _ in range(26):
        new_bot()
    page = client.get("/api/v1/bots", headers=headers)
    assert_conforms("GET", "/api/v1/bots", 200, page)
    assert_conforms("GET", "/api/v1/bots", 200, client.get(page.json()["next"], headers=headers))


@pytest.mark.parametrize(
    "suffix",
    ["/transcript", "/recording", "/participants", "/participant_events", "/chat_messages"],
)
def test_meeting_data_routes_conform(client, project, full_bot, suffix):
    response = client.get(f"/api/v1/bots/{full_bot}{suffix}", headers=project.headers)
    body = response.json()
    items = body if isinstance(body, list) else body.get("results", [body])
    assert items, "the route returned nothing to check"
    assert_conforms("GET", f"/api/v1/bots/{{object_id}}{suffix}", 200, response)
