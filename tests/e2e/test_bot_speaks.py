"""A bot created through the API speaks into a real room: output_audio (a wav file) and speech
(the offline engine) are heard by an aiortc participant — loud where the bot speaks, for about as
long as it should, silent otherwise — and the recording contains the bot's voice. Nothing of a
request is kept once the bot has taken it."""

import asyncio

import pytest

from support.bot_logs import log_messages
from support.peers import TestParticipant
from support.voice import Heard, a_listener_hears_the_bot, assert_recording_holds_what_was_heard


async def _meeting(live) -> tuple[dict, Heard]:
    alice = TestParticipant(live.base_url, "speakers", "Alice")
    await alice.join()
    bot = await asyncio.to_thread(
        live.create_bot,
        meeting_url=live.room_url("speakers"),
        recording_settings={"format": "mp3"},
        transcription_settings={"none": {}},
    )
    bot_id = bot["id"]
    await asyncio.to_thread(live.wait_for_state, bot_id, "joined_recording")
    await alice.wait_for(lambda: any(p["name"] == "Notetaker" for p in alice.joined))
    bot_uuid = next(p["uuid"] for p in alice.joined if p["name"] == "Notetaker")
    heard = await a_listener_hears_the_bot(live, bot_id, alice, bot_uuid)

    await asyncio.to_thread(live.http.post, f"/api/v1/bots/{bot_id}/leave")
    ended = await asyncio.to_thread(live.wait_for_state, bot_id, "ended")
    await alice.leave()
    return ended, heard


@pytest.mark.slow
def test_participants_hear_the_bot_and_the_recording_contains_it(live):
    bot, heard = asyncio.run(_meeting(live))
    assert bot["recording_state"] == "complete"
    assert log_messages(live.ctx, bot["id"], level="error") == []
    assert_recording_holds_what_was_heard(live, bot["id"], heard)
