"""A bot created through the API speaks into a real room: output_audio (a wav file) and speech
(the offline engine) are heard by an aiortc participant — loud where the bot speaks, for about as
long as it should, silent otherwise — and the recording contains the bot's voice. Nothing of a
request is kept once the bot has taken it."""

import asyncio
import base64
import io
import time
import wave

import numpy as np
import pytest
from sqlalchemy import select

from sitin.db.tables import bot_output_requests
from support.bot_logs import log_messages
from support.peers import TestParticipant
from support.speech import decode_mono, rms_dbfs

RATE = 48_000
LOUD_DBFS = -35
SENTENCE = "Hello everyone. The notes of this meeting will be sent after the call."


def spoken_by_the_engine(text: str) -> np.ndarray:
    """The offline engine's rendering of `text` at 16 kHz, made here for comparison."""
    from py_nanotts import NanoTTS

    return np.frombuffer(NanoTTS().speak(text, voice="en-US"), dtype="<i2")


def tone_wav(seconds: float, hz: float = 440.0, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    pcm = (np.sin(2 * np.pi * hz * t) * 0.3 * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def loud_seconds(pcm: np.ndarray, rate: int = RATE, window_s: float = 0.02) -> tuple[float, float]:
    """(first loud window start, total loud time) in seconds; (-1, 0) when all quiet."""
    size = int(window_s * rate)
    loud = [
        i for i in range(0, len(pcm) - size + 1, size) if rms_dbfs(pcm[i : i + size]) > LOUD_DBFS
    ]
    return (loud[0] / rate if loud else -1.0), len(loud) * window_s


async def heard_something_then_quiet(person: TestParticipant, uuid: str, since_s: float) -> None:
    """Until `person` heard `uuid` loud and then 1 s of quiet (longer than a sentence's end)."""

    def done() -> bool:
        heard = person.heard_from(uuid, since_s=since_s)
        first, total = loud_seconds(heard)
        if total == 0:
            return False
        tail = heard[-RATE:]
        return len(heard) > RATE and rms_dbfs(tail) < -60

    await person.wait_for(done, timeout_s=30)


async def _meeting(live) -> dict:
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
    await alice.wait_for(lambda: len(alice.heard.get(bot_uuid, [])) > 25)
    idle = alice.heard_from(bot_uuid)
    assert rms_dbfs(idle) < -60, "the bot is silent until asked to speak"

    # output_audio: one second of tone
    asked = time.time()
    response = await asyncio.to_thread(
        live.http.post,
        f"/api/v1/bots/{bot_id}/output_audio",
        json={"type": "audio/wav", "data": base64.b64encode(tone_wav(1.0)).decode()},
    )
    assert response.status_code == 200, response.text
    await heard_something_then_quiet(alice, bot_uuid, asked)
    first, tone_s = loud_seconds(alice.heard_from(bot_uuid, since_s=asked))
    assert 0.9 <= tone_s <= 1.2, f"heard {tone_s} s of a 1 s tone"
    assert first < 3.0, f"the tone started {first} s after the request"

    # speech, with the offline engine: about as long as the engine's own rendering of the text
    asked = time.time()
    response = await asyncio.to_thread(
        live.http.post, f"/api/v1/bots/{bot_id}/speech", json={"text": SENTENCE}
    )
    assert response.status_code == 200, response.text
    await heard_something_then_quiet(alice, bot_uuid, asked)
    first, speech_s = loud_seconds(alice.heard_from(bot_uuid, since_s=asked))
    _, expected_s = loud_seconds(spoken_by_the_engine(SENTENCE), 16000)
    assert 0.7 * expected_s <= speech_s <= 1.3 * expected_s + 0.2, (speech_s, expected_s)
    assert first < 3.0, f"speech started {first} s after the request"

    with live.ctx.db.read() as conn:
        left_over = conn.execute(
            select(bot_output_requests.c.id).where(bot_output_requests.c.bot_id == bot_id)
        ).all()
    assert left_over == [], "the bot keeps no copy of what it was asked to say"

    await asyncio.to_thread(live.http.post, f"/api/v1/bots/{bot_id}/leave")
    ended = await asyncio.to_thread(live.wait_for_state, bot_id, "ended")
    await alice.leave()
    return {"bot": ended, "tone_s": tone_s, "speech_s": speech_s}


@pytest.mark.slow
def test_participants_hear_the_bot_and_the_recording_contains_it(live):
    result = asyncio.run(_meeting(live))
    bot_id = result["bot"]["id"]
    assert result["bot"]["recording_state"] == "complete"
    errors = log_messages(live.ctx, bot_id, level="error")
    assert errors == []
    recording = live.http.get(f"/api/v1/bots/{bot_id}/recording").json()
    audio, rate = decode_mono(live.download(recording["url"]))
    pcm = (audio * 32767).astype(np.int16)
    _, recorded_s = loud_seconds(pcm, rate)
    heard_s = result["tone_s"] + result["speech_s"]
    # Alice was silent: everything loud in the recording is the bot
    assert 0.8 * heard_s <= recorded_s <= 1.2 * heard_s + 0.2, (recorded_s, heard_s)
