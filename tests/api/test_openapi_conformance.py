"""Responses of the core routes validated against Attendee's published OpenAPI file.

Each response is checked with jsonschema against the schema that ``attendee-openapi.yml`` declares
for the same operation and status. Where that file and the API reference (which follows Attendee's
code) disagree, the reference wins; each such correction is listed in ``REFERENCE_CORRECTIONS``.
"""

import copy
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from sitin.core.states import EventType
from sitin.core.timefmt import to_wire, utcnow
from sitin.db import capture

OPENAPI_FILE = Path("/work/shared/reference/attendee-openapi.yml")
if not OPENAPI_FILE.exists():  # the reference lives next to the checkout
    OPENAPI_FILE = Path(__file__).resolve().parents[3] / "shared/reference/attendee-openapi.yml"

NULLABLE = {"nullable": True}
# (schema, property) -> replacement, each one where the reference says the file is wrong.
REFERENCE_CORRECTIONS: dict[tuple[str, str], dict[str, Any]] = {
    # §4/§6: a bot without join_at / deduplication_key returns null for them.
    ("Bot", "join_at"): {"type": "string", "format": "date-time", **NULLABLE},
    ("Bot", "deduplication_key"): {"type": "string", **NULLABLE},
    # §7: metadata may be null (it is optional at creation).
    ("Bot", "metadata"): {"type": "object", **NULLABLE},
    # §4: *_state come from the default recording, "null if none".
    ("Bot", "transcription_state"): {
        "allOf": [{"$ref": "#/components/schemas/TranscriptionStateEnum"}],
        **NULLABLE,
    },
    ("Bot", "recording_state"): {
        "allOf": [{"$ref": "#/components/schemas/RecordingStateEnum"}],
        **NULLABLE,
    },
    # §4: timestamp_ms is epoch milliseconds (= timestamp * 1000), an integer, not a string.
    ("ChatMessage", "timestamp_ms"): {"type": "integer"},
    # §4: Recording start_timestamp_ms is "int|null" (null before the first audio buffer).
    ("Recording", "start_timestamp_ms"): {"type": "integer", **NULLABLE},
}


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable`` to JSON Schema; everything else is already JSON Schema."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _to_json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def _reference() -> dict[str, Any]:
    document = yaml.safe_load(OPENAPI_FILE.read_text())
    schemas = copy.deepcopy(document["components"]["schemas"])
    for (schema, prop), replacement in REFERENCE_CORRECTIONS.items():
        assert prop in schemas[schema]["properties"], (schema, prop)
        schemas[schema]["properties"][prop] = replacement
    return {"paths": document["paths"], "components": {"schemas": _to_json_schema(schemas)}}


def assert_conforms(method: str, path: str, status: int, response) -> None:
    """``response`` matches what the file declares for ``method path`` with ``status``."""
    assert response.status_code == status, response.text
    declared = _reference()["paths"][path][method.lower()]["responses"][str(status)]
    schema = _to_json_schema(declared["content"]["application/json"]["schema"])
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
