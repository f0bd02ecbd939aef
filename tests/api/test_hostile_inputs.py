"""Inputs that used to answer 500 (issue 11, item 5): each is now a 400 naming the field and what
is allowed (a 404 where the object named cannot exist), on SQLite and on PostgreSQL."""

import base64
import time

import orjson
import pytest

from support.settings import ROOM_URL


def _nested(depth: int) -> bytes:
    """JSON text nesting objects and arrays ``depth`` deep (written out: encoders stop at ~250)."""
    opening = "".join('{"k":' if level % 2 == 0 else "[" for level in range(depth))
    closing = "".join("}" if level % 2 == 0 else "]" for level in reversed(range(depth)))
    return f'{opening}"leaf"{closing}'.encode()


@pytest.mark.parametrize("depth", [40, 320, 1000])
def test_deeply_nested_json_is_a_400_naming_the_field(client, project, depth):
    body = b'{"meeting_url": "%s", "bot_name": "N", "metadata": %s}' % (
        ROOM_URL.encode(),
        _nested(depth),
    )
    headers = {**project.headers, "Content-Type": "application/json"}
    for method, path in [
        ("POST", "/api/v1/bots"),
        ("POST", "/api/v1/webhooks"),
        ("POST", "/api/v1/webhooks/secret/rotate"),
    ]:
        response = client.request(method, path, content=body, headers=headers)
        assert response.status_code == 400, (path, response.text)
        assert "metadata" in response.json()
        assert "at most 32 levels" in response.json()["metadata"][0]
    top_level = client.post("/api/v1/bots", content=b"[" * depth + b"]" * depth, headers=headers)
    assert top_level.status_code == 400
    assert "non_field_errors" in top_level.json()


def test_json_deeper_than_the_parser_allows_is_a_400(client, project):
    body = b"[" * 5000 + b"]" * 5000
    headers = {**project.headers, "Content-Type": "application/json"}
    response = client.post("/api/v1/bots", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


def test_nesting_within_the_limit_gets_the_fields_own_validation(client, project):
    response = client.post(
        "/api/v1/bots",
        json={"meeting_url": ROOM_URL, "bot_name": "N", "metadata": {"a": {"b": {"c": ["d"]}}}},
        headers=project.headers,
    )
    assert response.status_code == 400
    assert response.json() == {"metadata": ["Value for key 'a' must be a string"]}


EXTREME_DATES = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"]


@pytest.mark.parametrize("value", EXTREME_DATES)
def test_dates_beyond_the_calendar_in_utc_are_a_400(client, project, value):
    created = client.post(
        "/api/v1/bots",
        json={"meeting_url": ROOM_URL, "bot_name": "N", "join_at": value},
        headers=project.headers,
    )
    assert created.status_code == 400, created.text
    assert "join_at" in created.json()
    for name in ("join_at_after", "join_at_before"):
        listed = client.get("/api/v1/bots", params={name: value}, headers=project.headers)
        assert listed.status_code == 400, listed.text
        assert name in listed.json()["error"]


@pytest.mark.parametrize("value", EXTREME_DATES)
def test_a_cursor_carrying_an_extreme_date_is_an_invalid_cursor(client, project, value):
    cursor = base64.urlsafe_b64encode(orjson.dumps({"t": value, "i": "bot_x"})).decode()
    response = client.get("/api/v1/bots", params={"cursor": cursor}, headers=project.headers)
    assert response.status_code == 404  # as an unknown cursor: Attendee's answer
    assert response.json() == {"detail": "Invalid cursor"}


@pytest.mark.parametrize("value", [9223372036854775808, 10**30, 10 * 365 * 24 * 3600 + 1])
def test_retention_beyond_ten_years_is_a_400(client, project, value):
    response = client.post(
        "/api/v1/bots",
        json={"meeting_url": ROOM_URL, "bot_name": "N", "data_retention_seconds": value},
        headers=project.headers,
    )
    assert response.status_code == 400, response.text
    assert "at most 315360000" in response.json()["data_retention_seconds"][0]


def test_a_validly_signed_blob_key_with_dot_segments_is_a_404(ctx, client, new_bot):
    bot = new_bot()
    ctx.blobs.put_bytes(f"bots/{bot['id']}/recording.mp3", b"ID3 audio")
    expires = int(time.time()) + 600
    for key in (
        f"bots/other/../{bot['id']}/recording.mp3",  # inside the store, but not a key sitin wrote
        "bots/../../sitin.db",
        "../secret_key",
        f"bots//{bot['id']}/recording.mp3",
        f"bots/./{bot['id']}/recording.mp3",
    ):
        signature = ctx.blobs.links.signature(key, expires)
        # dots sent %-encoded, so no client normalises the path before the server sees it
        response = client.get(
            f"/blobs/{key.replace('.', '%2E')}",
            params={"expires": expires, "signature": signature},
        )
        assert response.status_code == 404, (key, response.status_code)
    key = f"bots/{bot['id']}/recording.mp3"
    response = client.get(
        f"/blobs/{key}",
        params={"expires": expires, "signature": ctx.blobs.links.signature(key, expires)},
    )
    assert response.status_code == 200 and response.content == b"ID3 audio"
