"""The bot's voice in a Janus meeting: output_audio and speech asked for through sitin's API are
heard by a person in the Janus room (an aiortc peer subscribed to the bot's published stream),
loud for as long as each request lasts and silent otherwise, and the recording contains them."""

from __future__ import annotations

import asyncio

import pytest

from support.bot_logs import log_messages
from support.janus import JanusListener, JanusMeeting
from support.voice import Heard, a_listener_hears_the_bot, assert_recording_holds_what_was_heard

pytestmark = pytest.mark.slow


async def meeting(setup: JanusMeeting, room: int) -> tuple[dict, Heard]:
    live = setup.live
    bot = await asyncio.to_thread(
        live.create_bot,
        meeting_url=setup.janus.meeting_url(room),
        recording_settings={"format": "mp3"},
        transcription_settings={"none": {}},
    )
    await asyncio.to_thread(live.wait_for_state, bot["id"], "joined_recording", timeout=60)
    alice = JanusListener(setup.janus, room, "Alice", live.ctx.outbound)
    await alice.join()
    try:
        await alice.wait_for(lambda: alice.publisher_named("Notetaker") is not None, 30)
        bot_feed = alice.publisher_named("Notetaker")
        assert bot_feed is not None
        heard = await a_listener_hears_the_bot(live, bot["id"], alice, bot_feed)
        left = await asyncio.to_thread(live.http.post, f"/api/v1/bots/{bot['id']}/leave")
        assert left.status_code == 200, left.text
        ended = await asyncio.to_thread(live.wait_for_state, bot["id"], "ended", timeout=60)
    finally:
        await alice.leave()
    return ended, heard


def test_a_person_in_the_janus_room_hears_the_bot_and_the_recording_has_it(
    janus_meeting: JanusMeeting,
) -> None:
    live = janus_meeting.live
    bot, heard = asyncio.run(meeting(janus_meeting, janus_meeting.new_room()))
    assert bot["recording_state"] == "complete"
    assert log_messages(live.ctx, bot["id"], level="error") == []
    assert_recording_holds_what_was_heard(live, bot["id"], heard)
