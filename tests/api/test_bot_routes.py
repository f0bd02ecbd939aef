"""Behaviour of every /api/v1/bots route, on SQLite and PostgreSQL, reading rows written through
the fenced capture functions (what the runtime will call)."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import select

from sitin.api.app import create_app
from sitin.bootstrap import build_context
from sitin.core.states import EventSubType, EventType
from sitin.core.timefmt import parse_wire, to_wire, utcnow
from sitin.db import capture
from sitin.db.bot_events import record_event
from sitin.db.tables import bot_chat_message_requests, bot_commands, recordings
from sitin.runtime import botstate
from support.launcher import StandInLauncher
from support.projects import create_project
from support.settings import make_settings

ROOM = "http://127.0.0.1:8000/rooms/standup"
BOT_KEYS = [
    "id",
    "metadata",
    "meeting_url",
    "state",
    "events",
    "transcription_state",
    "recording_state",
    "join_at",
    "deduplication_key",
]
NOT_FOUND = {"error": "Bot not found"}
WIRE_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")
DEDUP_IN_USE = (
    "Deduplication key already in use. A bot in a non-terminal state with this deduplication key "
    "already exists. Please use a different deduplication key or wait for that bot to terminate."
)


def _id_pattern(prefix: str) -> re.Pattern:
    return re.compile(rf"{prefix}_[A-Za-z0-9]{{16}}")


def _get(client, project, bot_id: str, suffix: str = "", **params):
    return client.get(f"/api/v1/bots/{bot_id}{suffix}", params=params, headers=project.headers)


def _post(client, project, bot_id: str, suffix: str, body=None):
    return client.post(f"/api/v1/bots/{bot_id}{suffix}", json=body, headers=project.headers)


@pytest.fixture
def notified(ctx) -> list[str]:
    """Bots the API told the (not yet running) runtime about, after each commit."""
    return ctx.bots.woken


# --- create --------------------------------------------------------------------------------


def test_create_returns_the_bot_in_attendees_shape(client, project):
    body = {"meeting_url": ROOM, "bot_name": "Notetaker", "metadata": {"team": "core"}}
    response = client.post("/api/v1/bots", json=body, headers=project.headers)
    assert response.status_code == 201
    bot = response.json()
    assert list(bot) == BOT_KEYS
    assert _id_pattern("bot").fullmatch(bot["id"])
    assert bot["metadata"] == {"team": "core"} and bot["meeting_url"] == ROOM
    assert bot["state"] == "joining"
    assert [list(e) for e in bot["events"]] == [["type", "created_at"]]
    assert bot["events"][0]["type"] == "join_requested"
    assert WIRE_DATETIME.fullmatch(bot["events"][0]["created_at"])
    assert bot["transcription_state"] == "not_started" and bot["recording_state"] == "not_started"
    assert bot["join_at"] is None and bot["deduplication_key"] is None


def test_create_with_join_at_is_scheduled_without_events(client, project, ctx):
    launched = ctx.bots.launched
    join_at = (utcnow() + timedelta(hours=2)).replace(microsecond=0)
    sent = join_at.astimezone().isoformat()  # a local offset is converted to UTC
    response = client.post(
        "/api/v1/bots",
        json={"meeting_url": ROOM, "bot_name": "Later", "join_at": sent},
        headers=project.headers,
    )
    bot = response.json()
    assert response.status_code == 201
    assert (bot["state"], bot["events"]) == ("scheduled", [])
    assert bot["join_at"] == to_wire(join_at) and bot["join_at"].endswith("Z")
    assert launched == [bot["id"]]


def test_create_normalises_the_meeting_url(client, project, new_bot):
    assert new_bot(meeting_url=" HTTP://127.0.0.1:8000/rooms/standup/> ")["meeting_url"] == ROOM


def test_create_field_errors_are_400_naming_the_field(client, project):
    response = client.post(
        "/api/v1/bots", json={"meeting_url": ROOM, "bot_name": ""}, headers=project.headers
    )
    assert (response.status_code, response.json()) == (
        400,
        {"bot_name": ["This field may not be blank."]},
    )


def test_unknown_fields_are_named(client, project):
    body = {"meeting_url": ROOM, "bot_name": "N", "colour": "red", "size": 3}
    response = client.post("/api/v1/bots", json=body, headers=project.headers)
    assert response.status_code == 400
    message = response.json()["non_field_errors"][0]
    assert message.startswith("Unexpected field(s): colour, size. Allowed fields are: meeting_url")


def test_wrong_types_are_400_naming_the_field(client, project):
    body = {"meeting_url": ROOM, "bot_name": "N", "metadata": "x", "webhooks": {}}
    response = client.post("/api/v1/bots", json=body, headers=project.headers)
    assert response.status_code == 400
    assert set(response.json()) == {"metadata", "webhooks"}


@pytest.mark.parametrize(
    "raw", [b"{", b'{"meeting_url": }', b"\xff\xfe", b"[1,"], ids=["open", "value", "bytes", "list"]
)
def test_malformed_json_is_400(client, project, raw):
    headers = {**project.headers, "Content-Type": "application/json"}
    response = client.post("/api/v1/bots", content=raw, headers=headers)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


def test_non_json_body_is_415_and_empty_body_is_400(client, project):
    headers = {**project.headers, "Content-Type": "text/plain"}
    response = client.post("/api/v1/bots", content=b"meeting_url=x", headers=headers)
    assert response.status_code == 415
    empty = client.post("/api/v1/bots", headers=project.headers)
    assert (empty.status_code, empty.json()) == (
        400,
        {"non_field_errors": ["Invalid data. Expected a dictionary."]},
    )


def test_settings_and_webhooks_are_stored(ctx, client, project, new_bot):
    bot = new_bot(
        recording_settings={"format": "none"},
        webhooks=[{"url": "https://hooks.example.com/a", "triggers": ["bot.state_change"]}],
    )
    with ctx.db.read() as conn:
        fmt = conn.execute(
            select(recordings.c.format).where(recordings.c.bot_id == bot["id"])
        ).scalar_one()
        rec_id = conn.execute(
            select(recordings.c.id).where(recordings.c.bot_id == bot["id"])
        ).scalar_one()
    assert fmt == "none" and _id_pattern("rec").fullmatch(rec_id)


def test_bot_chat_message_at_creation_is_queued(ctx, client, project, new_bot):
    bot = new_bot(bot_chat_message={"message": "I am taking notes"})
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(bot_chat_message_requests).where(bot_chat_message_requests.c.bot_id == bot["id"])
        ).all()
    assert [(r.to, r.state) for r in rows] == [("everyone", "pending")]
    assert "taking notes" not in rows[0].message  # sealed at rest under the bot's key
    queued = botstate.pending_chat_requests(ctx, bot["id"])
    assert [(r["to"], r["message"]) for r in queued] == [("everyone", "I am taking notes")]


# --- deduplication -------------------------------------------------------------------------


def _create(client, project, **fields):
    body = {"meeting_url": ROOM, "bot_name": "Notetaker", **fields}
    return client.post("/api/v1/bots", json=body, headers=project.headers)


_E, _T = EventType, EventSubType
_ENDED = [(_E.LEFT_MEETING, None), (_E.POST_PROCESSING_COMPLETED, None)]
FROM_LEAVING_TO = {
    "ended": _ENDED,
    "fatal_error": [(_E.FATAL_ERROR, _T.HEARTBEAT_TIMEOUT)],
    "data_deleted": [*_ENDED, (_E.DATA_DELETED, None)],
}


@pytest.mark.parametrize("terminal", list(FROM_LEAVING_TO))
def test_deduplication_key_is_reusable_only_once_the_bot_is_terminal(
    client, project, new_bot, advance, terminal
):
    first = new_bot(deduplication_key="standup-2025-03-01")["id"]
    clash = _create(client, project, deduplication_key="standup-2025-03-01")
    assert (clash.status_code, clash.json()) == (400, {"error": DEDUP_IN_USE})
    advance(first, "leaving")
    assert _create(client, project, deduplication_key="standup-2025-03-01").status_code == 400

    advance(first, events=FROM_LEAVING_TO[terminal])
    assert _get(client, project, first).json()["state"] == terminal
    second = _create(client, project, deduplication_key="standup-2025-03-01")
    assert second.status_code == 201
    assert second.json()["deduplication_key"] == "standup-2025-03-01"
    assert _create(client, project, deduplication_key="standup-2025-03-01").status_code == 400


def test_scheduled_bot_holds_its_deduplication_key(client, project, bot_in):
    bot_in("scheduled", deduplication_key="weekly")
    assert _create(client, project, deduplication_key="weekly").json() == {"error": DEDUP_IN_USE}


# --- get, unknown paths --------------------------------------------------------------------


def test_unknown_bot_is_404(client, project):
    response = _get(client, project, "bot_AAAAAAAAAAAAAAAA")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing", "/api/v1/bots/bot_x/nothing", "/api/v1/bots/bot_x/leave/x"]
)
def test_unknown_api_path_is_json_404(client, project, path):
    response = client.get(path, headers=project.headers)
    assert response.status_code == 404
    assert response.json() == {"error": "Not found"}


def test_events_and_recording_states_follow_the_bot(client, project, bot_in, advance):
    bot_id = bot_in("joined_recording")
    bot = _get(client, project, bot_id).json()
    assert [e["type"] for e in bot["events"]] == [
        "join_requested",
        "joined_meeting",
        "recording_permission_granted",
    ]
    assert (bot["recording_state"], bot["transcription_state"]) == ("in_progress", "in_progress")
    advance(bot_id, events=[(EventType.RECORDING_PAUSED, None)])
    assert _get(client, project, bot_id).json()["recording_state"] == "paused"
    advance(
        bot_id,
        events=[
            (EventType.MEETING_ENDED, None),
            (EventType.POST_PROCESSING_COMPLETED, None),
        ],
    )
    bot = _get(client, project, bot_id).json()
    assert bot["state"] == "ended"
    # No recording file was written: the recording failed; no utterance failed: complete.
    assert (bot["recording_state"], bot["transcription_state"]) == ("failed", "complete")


@pytest.mark.parametrize(
    ("began", "returned"),
    [
        (EventType.BEGAN_JOINING_BREAKOUT_ROOM, EventType.JOINED_BREAKOUT_ROOM),
        (EventType.BEGAN_LEAVING_BREAKOUT_ROOM, EventType.LEFT_BREAKOUT_ROOM),
    ],
)
def test_a_breakout_room_trip_returns_the_bot_to_where_it_was(
    client, project, bot_in, advance, began, returned
):
    bot_id = bot_in("joined_recording")
    advance(bot_id, events=[(EventType.RECORDING_PAUSED, None), (began, None)])
    assert _get(client, project, bot_id).json()["state"] != "joined_recording_paused"
    advance(bot_id, events=[(returned, None)])
    bot = _get(client, project, bot_id).json()
    assert (bot["state"], bot["recording_state"]) == ("joined_recording_paused", "paused")


def test_sub_type_is_present_only_when_the_event_has_one(client, project, bot_in):
    bot = _get(client, project, bot_in("leaving")).json()
    leave = bot["events"][-1]
    assert list(leave) == ["type", "sub_type", "created_at"]
    assert (leave["type"], leave["sub_type"]) == ("leave_requested", "user_requested")
    assert "sub_type" not in bot["events"][0]


# --- PATCH ---------------------------------------------------------------------------------


def test_patch_a_scheduled_bot(ctx, client, project, bot_in):
    bot_id = bot_in("scheduled")
    join_at = to_wire((utcnow() + timedelta(days=2)).replace(microsecond=0))
    response = client.patch(
        f"/api/v1/bots/{bot_id}",
        json={
            "join_at": join_at,
            "meeting_url": "https://127.0.0.1:8000/rooms/retro/",
            "bot_name": "Renamed",
            "metadata": {"k": "v"},
            "recording_settings": {"format": "mp4"},
            "not_a_field": 1,  # ignored, as Attendee does
        },
        headers=project.headers,
    )
    assert response.status_code == 200, response.text
    bot = response.json()
    assert bot["join_at"] == join_at and bot["meeting_url"] == "https://127.0.0.1:8000/rooms/retro"
    assert bot["metadata"] == {"k": "v"} and bot["state"] == "scheduled"
    with ctx.db.read() as conn:
        fmt = conn.execute(
            select(recordings.c.format).where(recordings.c.bot_id == bot_id)
        ).scalar_one()
    assert fmt == "mp4"


def test_patch_metadata_in_any_state_but_other_fields_only_when_scheduled(client, project, bot_in):
    bot_id = bot_in("joined_recording")
    ok = client.patch(
        f"/api/v1/bots/{bot_id}", json={"metadata": {"a": "b"}}, headers=project.headers
    )
    assert ok.status_code == 200 and ok.json()["metadata"] == {"a": "b"}
    refused = client.patch(
        f"/api/v1/bots/{bot_id}", json={"bot_name": "New"}, headers=project.headers
    )
    assert (refused.status_code, refused.json()) == (
        400,
        {
            "error": "Bot is in state joined_recording but join_at, meeting_url, bot_name, "
            "bot_image and recording_settings can only be updated when in the scheduled state"
        },
    )


def test_patch_validates_fields(client, project, bot_in):
    bot_id = bot_in("scheduled")
    response = client.patch(
        f"/api/v1/bots/{bot_id}", json={"join_at": "2001-01-01T00:00:00Z"}, headers=project.headers
    )
    assert (response.status_code, response.json()) == (
        400,
        {"join_at": ["join_at cannot be in the past"]},
    )


# --- DELETE --------------------------------------------------------------------------------


def test_delete_a_scheduled_bot(client, project, bot_in):
    bot_id = bot_in("scheduled")
    response = client.delete(f"/api/v1/bots/{bot_id}", headers=project.headers)
    assert response.status_code == 200 and response.content == b""
    assert _get(client, project, bot_id).status_code == 404


@pytest.mark.parametrize("state", ["staged", "joining"])
def test_delete_refused_outside_scheduled(client, project, bot_in, state):
    bot_id = bot_in(state)
    response = client.delete(f"/api/v1/bots/{bot_id}", headers=project.headers)
    assert (response.status_code, response.json()) == (
        400,
        {"error": f"Bot is in state {state} but can only be deleted when in scheduled state"},
    )
    assert _get(client, project, bot_id).json()["state"] == state


# --- leave ---------------------------------------------------------------------------------


def test_leave_moves_the_bot_to_leaving_and_tells_the_runtime(
    ctx, client, project, bot_in, notified
):
    bot_id = bot_in("joined_recording")
    response = _post(client, project, bot_id, "/leave")
    assert response.status_code == 200
    assert response.json()["state"] == "leaving"
    assert response.json()["events"][-1]["sub_type"] == "user_requested"
    assert notified == [bot_id]
    with ctx.db.read() as conn:
        commands = conn.execute(
            select(bot_commands.c.command).where(bot_commands.c.bot_id == bot_id)
        ).scalars()
        assert list(commands) == ["leave"]


def test_leave_answers_with_its_own_change_even_when_the_bot_moves_on_at_once(
    ctx, client, project, bot_in
):
    """The in-process runtime can reach post_processing before the response is rendered."""
    bot_id = bot_in("joined_recording")

    def runtime_leaves_instantly(notified_bot: str) -> None:
        with ctx.db.write() as tx:
            record_event(tx, bot_id=notified_bot, event=EventType.LEFT_MEETING)

    ctx.bots.on_wake = runtime_leaves_instantly
    response = _post(client, project, bot_id, "/leave")
    assert response.status_code == 200
    assert response.json()["state"] == "leaving"
    assert [e["type"] for e in response.json()["events"]][-1] == "leave_requested"
    assert _get(client, project, bot_id).json()["state"] == "post_processing"


def test_create_answers_with_the_new_bot_even_when_the_runtime_starts_it_at_once(
    ctx, client, project
):
    def runtime_joins_instantly(bot_id: str) -> None:
        with ctx.db.write() as tx:
            record_event(tx, bot_id=bot_id, event=EventType.JOINED_MEETING)

    ctx.bots.on_launch = runtime_joins_instantly
    response = client.post(
        "/api/v1/bots", json={"meeting_url": ROOM, "bot_name": "Notetaker"}, headers=project.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "joining"
    assert _get(client, project, response.json()["id"]).json()["state"] == "joined_not_recording"


@pytest.mark.parametrize("state", ["scheduled", "ended"])
def test_leave_in_a_state_that_cannot_leave(client, project, bot_in, notified, state):
    response = _post(client, project, bot_in(state), "/leave")
    assert response.status_code == 400
    assert response.json() == {
        "error": f"Event leave_requested not allowed when bot is in state {state}. It is only "
        "allowed in these states: joining, joined_not_recording, joined_recording, waiting_room, "
        "joined_recording_paused, joining_breakout_room, leaving_breakout_room, "
        "joined_recording_permission_denied"
    }
    assert notified == []


# --- pause / resume ------------------------------------------------------------------------


@pytest.fixture
def confirming_runtime(ctx):
    """Stands in for the running bot: confirms pause/resume commands as soon as it is told."""

    def confirm(bot_id: str) -> None:
        with ctx.db.read() as conn:
            command = conn.execute(
                select(bot_commands.c.command)
                .where(bot_commands.c.bot_id == bot_id)
                .order_by(bot_commands.c.id.desc())
            ).scalar()
        event = {
            "pause_recording": EventType.RECORDING_PAUSED,
            "resume_recording": EventType.RECORDING_RESUMED,
        }[command]
        with ctx.db.write() as tx:
            record_event(tx, bot_id=bot_id, event=event)

    ctx.bots.on_wake = confirm


def test_pause_and_resume_when_the_bot_confirms(client, project, bot_in, confirming_runtime):
    bot_id = bot_in("joined_recording")
    paused = _post(client, project, bot_id, "/pause_recording")
    assert paused.status_code == 200
    assert (paused.json()["state"], paused.json()["recording_state"]) == (
        "joined_recording_paused",
        "paused",
    )
    resumed = _post(client, project, bot_id, "/resume_recording")
    assert resumed.status_code == 200
    assert (resumed.json()["state"], resumed.json()["recording_state"]) == (
        "joined_recording",
        "in_progress",
    )


def test_pause_and_resume_need_the_right_state(client, project, bot_in, notified):
    joining = bot_in("joining")
    response = _post(client, project, joining, "/pause_recording")
    assert response.status_code == 400
    assert response.json()["error"].startswith("Bot is in state joining and cannot pause recording")
    response = _post(client, project, joining, "/resume_recording")
    assert response.status_code == 400
    assert response.json()["error"].startswith(
        "Bot is in state joining and cannot resume recording."
    )
    assert notified == []


def test_pause_without_confirmation_is_400(client, project, bot_in, notified):
    bot_id = bot_in("joined_recording")
    response = _post(client, project, bot_id, "/pause_recording")
    assert response.status_code == 400
    assert response.json()["error"].startswith("Unable to pause recording")
    assert notified == [bot_id]


# --- send_chat_message ---------------------------------------------------------------------


def _chat_requests(ctx, bot_id):
    """The queued requests as the runner reads them (sealed at rest, opened with the bot's key)."""
    return [
        (r["to"], r["to_user_uuid"], r["message"])
        for r in botstate.pending_chat_requests(ctx, bot_id)
    ]


def test_send_chat_message(ctx, client, project, bot_in, capture_meeting, notified):
    bot_id = bot_in("joined_not_recording")
    capture_meeting(bot_id)
    everyone = _post(client, project, bot_id, "/send_chat_message", {"message": "Hi all"})
    assert everyone.status_code == 200 and everyone.content == b""
    direct = _post(
        client,
        project,
        bot_id,
        "/send_chat_message",
        {"to": "specific_user", "to_user_uuid": "u-guest", "message": "Hi Grace"},
    )
    assert direct.status_code == 200
    assert _chat_requests(ctx, bot_id) == [
        ("everyone", None, "Hi all"),
        ("specific_user", "u-guest", "Hi Grace"),
    ]
    assert notified == [bot_id, bot_id]


def test_send_chat_message_refusals(ctx, client, project, bot_in):
    joined = bot_in("joined_recording")
    unknown = _post(
        client,
        project,
        joined,
        "/send_chat_message",
        {"to": "specific_user", "to_user_uuid": "nobody", "message": "hi"},
    )
    assert unknown.json() == {"error": "No participant found with uuid nobody"}
    invalid = _post(client, project, joined, "/send_chat_message", {"message": ""})
    assert invalid.json() == {"message": ["This field may not be blank."]}
    waiting = _post(client, project, bot_in("waiting_room"), "/send_chat_message", {"message": "x"})
    assert waiting.status_code == 400
    assert waiting.json()["error"].startswith(
        "Bot is in state waiting_room and cannot send chat messages"
    )
    assert _chat_requests(ctx, joined) == []


# --- captured data -------------------------------------------------------------------------


def test_transcript(ctx, client, project, bot_in, capture_meeting):
    bot_id = bot_in("joined_recording")
    meeting = capture_meeting(bot_id)
    with ctx.db.write() as tx:  # not yet transcribed: not listed
        capture.add_utterance(
            tx, bot_id=bot_id, participant_id=meeting.guest_id, timestamp_ms=1, duration_ms=1
        )
    response = _get(client, project, bot_id, "/transcript")
    assert response.status_code == 200
    assert response.json() == [
        {
            "speaker_name": "Ada",
            "speaker_uuid": "u-host",
            "speaker_user_uuid": "user-ada",
            "speaker_is_host": True,
            "timestamp_ms": 1_700_000_003_000,
            "duration_ms": 1500,
            "transcription": {"transcript": "Good morning"},
        }
    ]
    later = to_wire(utcnow() + timedelta(seconds=5))
    assert _get(client, project, bot_id, "/transcript", updated_after=later).json() == []
    bad = _get(client, project, bot_id, "/transcript", updated_after="soon")
    assert bad.status_code == 400
    assert bad.json() == {
        "error": "Invalid updated_after format. Use ISO 8601 format (e.g., 2024-01-18T12:34:56Z)"
    }


@pytest.mark.parametrize(
    ("suffix", "field", "expected"),
    [
        ("/participants", "name", ["Ada", "Grace"]),
        ("/participant_events", "participant_name", ["Ada", "Grace"]),
        ("/chat_messages", "text", ["hello"]),
    ],
)
def test_the_first_rows_of_a_bot_committed_while_it_is_read_are_readable(
    ctx, client, project, bot_in, capture_meeting, monkeypatch, caplog, suffix, field, expected
):
    # The read finds the bot with no data key yet; its first rows, sealed under a key made for
    # them, are committed between that lookup and the read of the rows.
    bot_id = bot_in("joined_recording")
    look_up = ctx.keys.key_for_reading
    landed = []

    def meeting_lands_right_after(wanted):
        found = look_up(wanted)
        if wanted == bot_id and not landed:
            assert found is None  # nothing sealed for the bot yet
            landed.append(capture_meeting(bot_id))
        return found

    monkeypatch.setattr(ctx.keys, "key_for_reading", meeting_lands_right_after)
    response = _get(client, project, bot_id, suffix)
    assert response.status_code == 200 and landed
    assert sorted(item[field] for item in response.json()["results"]) == expected
    assert "cannot be read" not in caplog.text


def test_recording_url_downloads_the_file(ctx, client, project, bot_in):
    bot_id = bot_in("joined_recording")
    missing = _get(client, project, bot_id, "/recording")
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": "No recording file found for bot"},
    )
    key = f"bots/{bot_id}/recording.mp3"
    size = ctx.blobs.put_bytes(key, b"ID3 fake mp3 bytes")
    with ctx.db.write() as tx:
        capture.set_recording_file(
            tx, bot_id=bot_id, blob_key=key, blob_size=size, first_buffer_timestamp_ms=1234
        )
    response = _get(client, project, bot_id, "/recording")
    assert response.status_code == 200
    assert response.json()["start_timestamp_ms"] == 1234
    download = client.get(response.json()["url"])
    assert download.status_code == 200 and download.content == b"ID3 fake mp3 bytes"


def test_participants(client, project, bot_in, capture_meeting):
    bot_id = bot_in("joined_recording")
    meeting = capture_meeting(bot_id)
    page = _get(client, project, bot_id, "/participants").json()
    assert page["next"] is None and page["previous"] is None
    assert page["results"] == [
        {
            "id": meeting.host_id,
            "name": "Ada",
            "uuid": "u-host",
            "user_uuid": "user-ada",
            "is_host": True,
        },
        {
            "id": meeting.guest_id,
            "name": "Grace",
            "uuid": "u-guest",
            "user_uuid": None,
            "is_host": False,
        },
    ]
    assert _id_pattern("par").fullmatch(meeting.host_id)
    hosts = _get(client, project, bot_id, "/participants", is_host="false").json()["results"]
    assert [p["name"] for p in hosts] == ["Grace"]
    one = _get(client, project, bot_id, "/participants", id=meeting.host_id).json()["results"]
    assert [p["name"] for p in one] == ["Ada"]
    bad = _get(client, project, bot_id, "/participants", is_host="yes")
    assert (bad.status_code, bad.json()) == (
        400,
        {"error": "Invalid is_host value. Use true or false."},
    )


def test_participant_events(client, project, bot_in, capture_meeting):
    bot_id = bot_in("joined_recording")
    meeting = capture_meeting(bot_id)
    results = _get(client, project, bot_id, "/participant_events").json()["results"]
    assert [e["id"] for e in results] == meeting.event_ids
    assert all(_id_pattern("pe").fullmatch(e["id"]) for e in results)
    assert results[0] == {
        "id": meeting.event_ids[0],
        "participant_name": "Ada",
        "participant_uuid": "u-host",
        "participant_user_uuid": "user-ada",
        "participant_is_host": True,
        "event_type": "join",
        "event_data": {},
        "timestamp_ms": 1_700_000_000_000,
    }
    future = to_wire(utcnow() + timedelta(minutes=1))
    past = to_wire(utcnow() - timedelta(minutes=1))
    assert (
        _get(client, project, bot_id, "/participant_events", after=future).json()["results"] == []
    )
    assert (
        len(
            _get(client, project, bot_id, "/participant_events", after=past, before=future).json()[
                "results"
            ]
        )
        == 2
    )


def test_chat_messages(client, project, bot_in, capture_meeting):
    bot_id = bot_in("joined_recording")
    meeting = capture_meeting(bot_id)
    results = _get(client, project, bot_id, "/chat_messages").json()["results"]
    assert results == [
        {
            "id": meeting.message_ids[0],
            "text": "hello",
            "timestamp": 1_700_000_002,
            "timestamp_ms": 1_700_000_002_000,  # reference §4: timestamp_ms = timestamp * 1000
            "to": "everyone",
            "sender_name": "Grace",
            "sender_uuid": "u-guest",
            "sender_user_uuid": None,
            "additional_data": {},
        }
    ]
    assert _id_pattern("msg").fullmatch(meeting.message_ids[0])
    future = to_wire(utcnow() + timedelta(minutes=1))
    assert (
        _get(client, project, bot_id, "/chat_messages", updated_after=future).json()["results"]
        == []
    )


def test_captured_data_pages_by_25(ctx, client, project, bot_in):
    bot_id = bot_in("joined_recording")
    with ctx.db.write() as tx:
        ids = [
            capture.upsert_participant(tx, bot_id=bot_id, uuid=f"u{i}", name=f"P{i}", is_host=False)
            for i in range(30)
        ]
    first = _get(client, project, bot_id, "/participants").json()
    assert [p["id"] for p in first["results"]] == ids[:25]
    second = client.get(first["next"], headers=project.headers).json()
    assert [p["id"] for p in second["results"]] == ids[25:]
    back = client.get(second["previous"], headers=project.headers).json()
    assert [p["id"] for p in back["results"]] == ids[:25]


# --- NUL characters (PostgreSQL text cannot hold them; found by the fuzz run) ------------------

NUL = "Null characters are not allowed."


def test_null_characters_are_refused_everywhere(client, project, bot_in):
    bot_id = bot_in("joined_recording")
    create = client.post(
        "/api/v1/bots",
        json={"meeting_url": ROOM, "bot_name": "Note\x00taker", "metadata": {"k": "v"}},
        headers=project.headers,
    )
    assert (create.status_code, create.json()) == (400, {"bot_name": [NUL]})
    nested = client.post(
        "/api/v1/bots",
        json={"meeting_url": ROOM, "bot_name": "N", "metadata": {"k\x00": "v"}},
        headers=project.headers,
    )
    assert (nested.status_code, nested.json()) == (400, {"metadata": [NUL]})
    chat = _post(client, project, bot_id, "/send_chat_message", {"message": "hi\x00"})
    assert (chat.status_code, chat.json()) == (400, {"message": [NUL]})
    listing = client.get("/api/v1/bots?meeting_url=%00", headers=project.headers)
    assert (listing.status_code, listing.json()) == (400, {"meeting_url": [NUL]})
    path = client.get("/api/v1/bots/bot_%00/participants", headers=project.headers)
    assert (path.status_code, path.json()) == (400, {"detail": NUL})
    assert _get(client, project, bot_id).json()["state"] == "joined_recording"


def test_times_are_utc_on_a_postgresql_server_in_another_time_zone(
    tmp_path, postgres_database, join_at_soon
):
    """The wire format is UTC with "Z" however the server is configured: a PostgreSQL whose
    TimeZone is +13:45 hands out local times unless sitin's sessions ask for UTC."""
    name = sa.engine.make_url(postgres_database).database
    admin = sa.create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"ALTER DATABASE \"{name}\" SET timezone TO 'Pacific/Chatham'"))
    try:
        context = build_context(
            make_settings(tmp_path, postgres_database), migrate=False, launcher=StandInLauncher()
        )
        try:
            with TestClient(create_app(context)) as client:
                project = create_project(context, "zoned")
                before = utcnow()
                body = {"meeting_url": ROOM, "bot_name": "Zoned", "join_at": join_at_soon}
                later = client.post("/api/v1/bots", json=body, headers=project.headers).json()
                body = {"meeting_url": ROOM, "bot_name": "Now"}
                now = client.post("/api/v1/bots", json=body, headers=project.headers).json()
                listed = client.get("/api/v1/bots", headers=project.headers).json()["results"]
        finally:
            context.close()
        got = {bot["id"]: bot for bot in listed}
        assert got[later["id"]]["join_at"] == to_wire(parse_wire(join_at_soon))
        (event,) = got[now["id"]]["events"]
        assert WIRE_DATETIME.fullmatch(event["created_at"])
        at = parse_wire(event["created_at"])
        assert before - timedelta(seconds=1) <= at <= utcnow() + timedelta(seconds=1)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" RESET timezone'))
        admin.dispose()
