"""Project isolation: a key of project A sees project B's bots as missing on every bot route.

The routes come from the served schema, so a route added later is covered without editing this.
"""

import base64

import pytest
from sqlalchemy import func, select

from sitin.api.unsupported import UNSUPPORTED_ROUTES
from sitin.db.tables import bot_chat_message_requests, bot_commands, bot_events, bots

NOT_FOUND = {"error": "Bot not found"}
# Routes this server does not implement answer the same 501 for every id, looked up or not.
UNSUPPORTED = {(r.method, "/api/v1" + r.path) for r in UNSUPPORTED_ROUTES}
# Bodies a route would accept from the bot's own project (so only the project check can refuse).
VALID_BODIES = {
    ("PATCH", "/api/v1/bots/{object_id}"): {"metadata": {"owner": "A"}},
    ("POST", "/api/v1/bots/{object_id}/send_chat_message"): {"message": "hello from A"},
    ("POST", "/api/v1/bots/{object_id}/output_audio"): {
        "type": "audio/wav",
        "data": base64.b64encode(b"RIFF\x24\x00\x00\x00WAVEfmt ").decode(),
    },
    ("POST", "/api/v1/bots/{object_id}/speech"): {"text": "hello from A"},
}
EXPECTED_ROUTES = {
    ("GET", "/api/v1/bots/{object_id}"),
    ("PATCH", "/api/v1/bots/{object_id}"),
    ("DELETE", "/api/v1/bots/{object_id}"),
    ("POST", "/api/v1/bots/{object_id}/leave"),
    ("GET", "/api/v1/bots/{object_id}/transcript"),
    ("GET", "/api/v1/bots/{object_id}/recording"),
    ("GET", "/api/v1/bots/{object_id}/participants"),
    ("GET", "/api/v1/bots/{object_id}/participant_events"),
    ("GET", "/api/v1/bots/{object_id}/chat_messages"),
    ("POST", "/api/v1/bots/{object_id}/send_chat_message"),
    ("POST", "/api/v1/bots/{object_id}/pause_recording"),
    ("POST", "/api/v1/bots/{object_id}/resume_recording"),
    ("POST", "/api/v1/bots/{object_id}/output_audio"),
    ("POST", "/api/v1/bots/{object_id}/speech"),
    ("POST", "/api/v1/bots/{object_id}/output_image"),
    ("POST", "/api/v1/bots/{object_id}/output_video"),
}


def _bot_routes(client) -> list[tuple[str, str]]:
    paths = client.get("/api/schema").json()["paths"]
    return sorted(
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/api/v1/bots/{object_id}")
        for method in operations
    )


def _snapshot(ctx, client, owner, bot_ids: list[str]) -> dict:
    with ctx.db.read() as conn:
        counts = {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (bots, bot_events, bot_commands, bot_chat_message_requests)
        }
    views = {
        bot_id: client.get(f"/api/v1/bots/{bot_id}", headers=owner.headers).json()
        for bot_id in bot_ids
    }
    return {"counts": counts, "views": views}


@pytest.fixture
def others_bots(client, other_project, advance, capture_meeting, join_at_soon):
    """Project B's bots in the states where each route would act: scheduled (PATCH/DELETE),
    joined_recording (leave, pause, chat), paused (resume), with captured data."""
    ids = []
    for state in ("scheduled", "joined_recording", "joined_recording_paused"):
        response = client.post(
            "/api/v1/bots",
            json={"meeting_url": "http://127.0.0.1:8000/rooms/b", "bot_name": "B's bot"}
            | ({"join_at": join_at_soon} if state == "scheduled" else {}),
            headers=other_project.headers,
        )
        assert response.status_code == 201
        ids.append(response.json()["id"])
        if state != "scheduled":
            advance(ids[-1], state)
            capture_meeting(ids[-1])
    return ids


def test_every_bot_route_hides_another_projects_bot(
    ctx, client, project, other_project, others_bots
):
    routes = _bot_routes(client)
    assert set(routes) >= EXPECTED_ROUTES
    before = _snapshot(ctx, client, other_project, others_bots)
    for bot_id in others_bots:
        for method, path in routes:
            url = path.replace("{object_id}", bot_id)
            body = VALID_BODIES.get((method, path))
            response = client.request(method, url, json=body, headers=project.headers)
            if (method, path) in UNSUPPORTED:
                missing = path.replace("{object_id}", "bot_doesnotexist0000")
                unknown = client.request(method, missing, json=body, headers=project.headers)
                assert (response.status_code, response.json()) == (501, unknown.json())
                continue
            assert (response.status_code, response.json()) == (404, NOT_FOUND), (method, url)
    assert _snapshot(ctx, client, other_project, others_bots) == before


def test_invalid_body_for_another_projects_bot_is_still_not_found(
    client, project, other_project, others_bots
):
    """The bot is looked up before the body is validated, so nothing about it leaks."""
    scheduled = others_bots[0]
    for method, path, body in [
        ("PATCH", f"/api/v1/bots/{scheduled}", {"metadata": []}),
        ("POST", f"/api/v1/bots/{scheduled}/send_chat_message", {"to": "nobody"}),
    ]:
        response = client.request(method, path, json=body, headers=project.headers)
        assert (response.status_code, response.json()) == (404, NOT_FOUND), path


def test_listing_shows_only_the_callers_bots(client, project, other_project, new_bot, others_bots):
    mine = new_bot()["id"]
    listed = client.get("/api/v1/bots", headers=project.headers).json()["results"]
    assert [bot["id"] for bot in listed] == [mine]
    theirs = client.get("/api/v1/bots", headers=other_project.headers).json()["results"]
    assert [bot["id"] for bot in theirs] == others_bots


def test_same_deduplication_key_in_two_projects_is_fine(client, project, other_project, new_bot):
    new_bot(deduplication_key="daily-standup")
    response = client.post(
        "/api/v1/bots",
        json={
            "meeting_url": "http://127.0.0.1:8000/rooms/b",
            "bot_name": "B",
            "deduplication_key": "daily-standup",
        },
        headers=other_project.headers,
    )
    assert response.status_code == 201
