"""A bot created with the accuracy pass, end to end: real participants speak real recordings over
WebRTC into a local room; the realtime transcript is there while the meeting runs; after leave the
bot stays in post_processing while each participant's whole track is transcribed again, then
reaches ended with the pass's transcript, its progress in the bot log, nothing left on disk, and
delete_data leaves nothing either. Properties with margins, never exact decoder output."""

import asyncio

import numpy as np
import pytest

from sitin.datadir import bot_work_dir
from sitin.transcription.base import SpeechSegment
from sitin.transcription.offline import OfflineWhisperProvider
from support.bot_logs import bot_logs
from support.peers import TestParticipant
from support.speech import normalise, word_error_rate
from transcription.real_speech import KENNEDY, READER, repeated_beyond_reference
from transcription.speech_audio import to_48k_int16

SAYS = {"Alice": READER[:3], "Bob": KENNEDY}


def track_of(recordings) -> np.ndarray:
    """The recordings one after another with 0.8 s between them (16 kHz)."""
    pause = np.zeros(12_800, dtype=np.float32)
    return np.concatenate([part for r in recordings for part in (r.samples, pause)])


def reference(recordings) -> str:
    return " ".join(r.text for r in recordings)


async def meeting_with_the_pass(live) -> tuple[dict, dict, list]:
    room = "review"
    people = {name: TestParticipant(live.base_url, room, name) for name in SAYS}
    for person in people.values():
        await person.join()
    bot = await asyncio.to_thread(
        live.create_bot,
        meeting_url=live.room_url(room),
        recording_settings={"format": "none"},
        transcription_settings={"offline": {"accuracy_pass": True}},
    )
    bot_id = bot["id"]
    await asyncio.to_thread(live.wait_for_state, bot_id, "joined_recording")
    for person in people.values():
        await person.wait_for(person.connected_to_bot)
    for name, person in people.items():  # one after the other, as people take turns
        pcm = to_48k_int16(track_of(SAYS[name]))
        person.say(pcm)
        await person.wait_for(person.microphone.played_everything, timeout_s=len(pcm) / 48e3 + 30)

    def realtime_ready():
        """Most of what each person said is in the realtime transcript: the bot heard it all
        (leaving earlier would end the tracks before the audio in flight arrived)."""
        listed = live.http.get(f"/api/v1/bots/{bot_id}/transcript").json()
        for name, recordings in SAYS.items():
            text = " ".join(
                u["transcription"]["transcript"] for u in listed if u["speaker_name"] == name
            )
            said, heard = reference(recordings), normalise(text)
            error = word_error_rate(said, text)
            # under load the end of a turn arrives late: wait for its last word too
            ended = normalise(said)[-1] in heard[-4:]
            if error > 0.5 or not (ended or error <= 0.15):
                return None
        return listed

    realtime = await asyncio.to_thread(live.wait_until, realtime_ready, 90, "realtime transcript")
    assert live.http.post(f"/api/v1/bots/{bot_id}/leave").json()["state"] == "leaving"
    final = await asyncio.to_thread(live.wait_for_state, bot_id, "ended", "fatal_error", 180)
    for person in people.values():
        await person.leave()
    return final, {name: person.uuid for name, person in people.items()}, realtime


@pytest.mark.slow
def test_the_bot_ends_with_the_accuracy_pass_transcript(live):
    bot, uuids, realtime = asyncio.run(meeting_with_the_pass(live))
    bot_id = bot["id"]
    assert bot["state"] == "ended", bot
    assert [e["type"] for e in bot["events"]][-2:] == ["left_meeting", "post_processing_completed"]
    assert bot["transcription_state"] == "complete"

    transcript = live.http.get(f"/api/v1/bots/{bot_id}/transcript").json()
    offline = OfflineWhisperProvider(cpu_threads=1)
    for name, recordings in SAYS.items():
        theirs = [u for u in transcript if u["speaker_name"] == name]
        assert theirs and {u["speaker_uuid"] for u in theirs} == {uuids[name]}
        text = " ".join(u["transcription"]["transcript"] for u in theirs)
        clean = offline.transcribe_blocking(SpeechSegment(name, 0, track_of(recordings)))
        # the track came through Opus over real WebRTC, under whatever else the machine runs: a
        # margin of five words of Bob's 22 over the model on the clean file (CI once saw three:
        # "ask not why you are country"), still far below what a lost turn would cost
        bound = word_error_rate(reference(recordings), clean.transcript) + 0.25
        assert word_error_rate(reference(recordings), text) <= bound, text
        assert repeated_beyond_reference(normalise(text), normalise(reference(recordings))) == 0
        # on the meeting's clock: where the realtime utterances of that speaker were
        live_start = min(u["timestamp_ms"] for u in realtime if u["speaker_name"] == name)
        assert abs(theirs[0]["timestamp_ms"] - live_start) < 1_500, (theirs[0], live_start)

    messages = [e.message for e in bot_logs(live.ctx, bot_id) if e.entry_type == "accuracy_pass"]
    assert messages[0].startswith("accuracy pass started: 2 participants"), messages
    assert messages[-1].startswith("accuracy pass done:"), messages
    work_dir = bot_work_dir(live.ctx.settings.data_dir, bot_id)
    assert not work_dir.exists() or not any(p.is_file() for p in work_dir.rglob("*"))

    deleted = live.http.post(f"/api/v1/bots/{bot_id}/delete_data")
    assert deleted.status_code == 200 and deleted.json()["state"] == "data_deleted"
    assert live.http.get(f"/api/v1/bots/{bot_id}/transcript").json() == []
    assert not work_dir.exists()
