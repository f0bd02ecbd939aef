"""Bots sent into Janus meetings through sitin's API, where the meeting refuses or ends them:
each case ends in Attendee's state and sub-type for it, with a log entry saying why."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from sitin.core.timefmt import parse_wire
from sitin.db.tables import bot_chat_message_requests
from sitin.runtime.adapters.janus.client import JanusSession
from support.bot_logs import bot_logs, log_messages
from support.janus import JanusMeeting
from support.speech import decode_mono

JOINED = "joined_recording"


def last_event(bot: dict) -> dict:
    return bot["events"][-1]


@pytest.mark.parametrize(
    ("pin", "url_pin", "sub_type", "said"),
    [
        (None, None, "meeting_not_found", "No such room"),
        ("right", "wrong", "request_to_join_denied", "Unauthorized"),
        ("right", None, "request_to_join_denied", "pin"),
    ],
    ids=["wrong-room", "wrong-pin", "missing-pin"],
)
def test_a_refused_join_is_could_not_join(
    janus_meeting: JanusMeeting, pin: str | None, url_pin: str | None, sub_type: str, said: str
) -> None:
    live = janus_meeting.live
    room = janus_meeting.new_room(pin=pin)
    joined_room = room + 500 if sub_type == "meeting_not_found" else room
    bot = live.create_bot(meeting_url=janus_meeting.janus.meeting_url(joined_room, url_pin))
    ended = live.wait_for_state(bot["id"], "fatal_error", timeout=30)
    assert last_event(ended)["type"] == "could_not_join_meeting"
    assert last_event(ended)["sub_type"] == sub_type
    assert any(said.lower() in message.lower() for message in log_messages(live.ctx, bot["id"]))


def test_janus_down_is_unable_to_connect(janus_meeting: JanusMeeting) -> None:
    live = janus_meeting.live
    room = janus_meeting.new_room()
    janus_meeting.janus.stop()
    bot = live.create_bot(meeting_url=janus_meeting.janus.meeting_url(room))
    ended = live.wait_for_state(bot["id"], "fatal_error", timeout=30)
    assert last_event(ended)["type"] == "could_not_join_meeting"
    assert last_event(ended)["sub_type"] == "unable_to_connect_to_meeting"
    assert any("cannot reach" in message for message in log_messages(live.ctx, bot["id"]))


def test_the_right_pin_joins_and_leave_ends(janus_meeting: JanusMeeting) -> None:
    live = janus_meeting.live
    room = janus_meeting.new_room(pin="s3cret")
    bot = live.create_bot(meeting_url=janus_meeting.janus.meeting_url(room, "s3cret"))
    live.wait_for_state(bot["id"], JOINED)
    listing = janus_meeting.janus.plugin_request(
        "janus.plugin.videoroom", {"request": "listparticipants", "room": room}
    )
    assert [p["display"] for p in listing["participants"]] == ["Notetaker"]
    assert live.http.post(f"/api/v1/bots/{bot['id']}/leave").status_code == 200
    ended = live.wait_for_state(bot["id"], "ended")
    types = [e["type"] for e in ended["events"]]
    assert types[-2:] == ["left_meeting", "post_processing_completed"]
    gone = janus_meeting.janus.plugin_request(
        "janus.plugin.videoroom", {"request": "listparticipants", "room": room}
    )
    assert gone["participants"] == []


@pytest.mark.parametrize("how", ["room-destroyed", "bot-kicked", "janus-stopped"])
def test_the_meeting_ending_under_the_bot_is_meeting_ended(
    janus_meeting: JanusMeeting, how: str
) -> None:
    live, janus = janus_meeting.live, janus_meeting.janus
    room = janus_meeting.new_room()
    bot = live.create_bot(meeting_url=janus.meeting_url(room))
    live.wait_for_state(bot["id"], JOINED)
    if how == "room-destroyed":
        janus.destroy_room(room)
        said = "room was closed"
    elif how == "bot-kicked":
        listing = janus.plugin_request(
            "janus.plugin.videoroom", {"request": "listparticipants", "room": room}
        )
        (bot_in_janus,) = listing["participants"]
        janus.plugin_request(
            "janus.plugin.videoroom", {"request": "kick", "room": room, "id": bot_in_janus["id"]}
        )
        said = "removed from the meeting"
    else:
        janus.stop()
        said = "connection to the meeting was lost"
    ended = live.wait_for_state(bot["id"], "ended", timeout=30)
    types = [e["type"] for e in ended["events"]]
    assert types[-2:] == ["meeting_ended", "post_processing_completed"], types
    assert "sub_type" not in ended["events"][-2]  # Attendee's meeting_ended has none
    assert ended["recording_state"] == "complete"
    assert any(said in message for message in log_messages(live.ctx, bot["id"]))


def test_people_who_only_watch_are_participants_and_the_bot_leaves_when_alone(
    janus_meeting: JanusMeeting,
) -> None:
    """A guest who joins without publishing (Janus sends no event for them) is found by the
    roster check; when they go, the bot is alone and auto-leave takes it out."""
    live, janus = janus_meeting.live, janus_meeting.janus
    room = janus_meeting.new_room()

    async def scenario() -> tuple[dict, list[dict], list[dict]]:
        guest = await JanusSession.open(janus.ws_url, guard=live.ctx.outbound)
        try:
            handle = await guest.attach("janus.plugin.videoroom", lambda message: None)
            await handle.request(
                {"request": "join", "ptype": "publisher", "room": room, "display": "Grace"}
            )
            bot = await asyncio.to_thread(
                live.create_bot,
                meeting_url=janus.meeting_url(room),
                automatic_leave_settings={"only_participant_in_meeting_timeout_seconds": 2},
            )
            await asyncio.to_thread(live.wait_for_state, bot["id"], JOINED)
            paused = await asyncio.to_thread(
                live.http.post, f"/api/v1/bots/{bot['id']}/pause_recording"
            )
            assert paused.status_code == 200, paused.text
            resumed = await asyncio.to_thread(
                live.http.post, f"/api/v1/bots/{bot['id']}/resume_recording"
            )
            assert resumed.status_code == 200, resumed.text
            await asyncio.to_thread(live.wait_for_state, bot["id"], JOINED)
        finally:
            await guest.close()
        ended = await asyncio.to_thread(live.wait_for_state, bot["id"], "ended", timeout=30)
        people = (
            await asyncio.to_thread(live.http.get, f"/api/v1/bots/{bot['id']}/participants")
        ).json()
        moves = (
            await asyncio.to_thread(live.http.get, f"/api/v1/bots/{bot['id']}/participant_events")
        ).json()
        return ended, people, moves

    ended, people, moves = asyncio.run(scenario())
    people = people["results"] if isinstance(people, dict) else people
    moves = moves["results"] if isinstance(moves, dict) else moves
    assert [p["name"] for p in people] == ["Grace"]
    assert [m["event_type"] for m in moves] == ["join", "leave"]
    types = [(e["type"], e.get("sub_type")) for e in ended["events"]]
    assert ("recording_paused", None) in types and ("recording_resumed", None) in types
    assert types[-3:] == [
        ("leave_requested", "auto_leave_only_participant_in_meeting"),
        ("left_meeting", None),
        ("post_processing_completed", None),
    ], types


def test_a_room_without_a_textroom_has_no_chat_but_the_bot_records(
    janus_meeting: JanusMeeting,
) -> None:
    """A VideoRoom with no TextRoom of the same id: the bot joins and records all the same, says
    in its log that the meeting has no chat, and a chat message it is asked to send fails with a
    log entry saying why (nothing waits for a chat that is not there)."""
    live = janus_meeting.live
    room = janus_meeting.new_room(textroom=False)
    for plugin, exists in (("videoroom", True), ("textroom", False)):
        asked = {"request": "exists", "textroom": "exists", "room": room}
        assert (
            janus_meeting.janus.plugin_request(f"janus.plugin.{plugin}", asked)["exists"] is exists
        )
    bot = live.create_bot(
        meeting_url=janus_meeting.janus.meeting_url(room), recording_settings={"format": "mp3"}
    )
    bot_id = bot["id"]
    live.wait_for_state(bot_id, JOINED, timeout=30)
    live.wait_until(  # the bot writes it right after it starts recording
        lambda: any(
            entry.level == "warning" and "no chat" in entry.message
            for entry in bot_logs(live.ctx, bot_id)
        ),
        10,
        "the bot's log saying the meeting has no chat",
    )

    sent = live.http.post(f"/api/v1/bots/{bot_id}/send_chat_message", json={"message": "hello"})
    assert sent.status_code == 200, sent.text

    def request_state() -> str | None:
        with live.ctx.db.read() as conn:
            state = conn.execute(
                select(bot_chat_message_requests.c.state).where(
                    bot_chat_message_requests.c.bot_id == bot_id
                )
            ).scalar_one()
        return state if state != "pending" else None

    assert live.wait_until(request_state, 30, "the chat request handled") == "failed"
    errors = log_messages(live.ctx, bot_id, level="error")
    assert errors == [f"a chat message could not be sent: Janus room {room} has no TextRoom chat"]
    assert live.bot(bot_id)["state"] == JOINED  # still in the meeting, still recording

    assert live.http.post(f"/api/v1/bots/{bot_id}/leave").status_code == 200
    ended = live.wait_for_state(bot_id, "ended", timeout=30)
    assert ended["recording_state"] == "complete"
    recording = live.http.get(f"/api/v1/bots/{bot_id}/recording").json()
    audio, rate = decode_mono(live.download(recording["url"]))
    times = {e["type"]: parse_wire(e["created_at"]) for e in ended["events"]}
    in_meeting_s = (times["left_meeting"] - times["recording_permission_granted"]).total_seconds()
    assert abs(len(audio) / rate - in_meeting_s) <= 1.5, (len(audio) / rate, in_meeting_s)
    assert live.http.get(f"/api/v1/bots/{bot_id}/chat_messages").json()["results"] == []
