"""What a participant hears when a bot speaks, for the voice tests of every platform.

`a_listener_hears_the_bot` asks a bot (created through the API, in a meeting with `listener`)
to play a one-second tone (output_audio) and to say a sentence (speech, offline engine), and
checks what `listener` heard from the bot: silence until asked, loud for about as long as each
request lasts, starting soon after it. A listener is anything with `heard` (per uuid, each frame
heard with the epoch time it arrived), `heard_from(uuid, since_s)` (48 kHz mono int16 heard from
`uuid` since epoch `since_s`) and `wait_for(condition, timeout_s)`. A silent bot sends a packet
only every 400 ms (as Opus DTX), so quiet is judged by time, not by samples heard.
"""

from __future__ import annotations

import asyncio
import base64
import io
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sqlalchemy import select

from sitin.db.tables import bot_output_requests
from support.live import Live
from support.speech import decode_mono, rms_dbfs, window_dbfs

RATE = 48_000
LOUD_DBFS = -35
SENTENCE = "Hello everyone. The notes of this meeting will be sent after the call."


class Listener(Protocol):
    heard: dict[str, list[tuple[float, np.ndarray]]]

    def heard_from(self, uuid: str, since_s: float = 0.0) -> np.ndarray: ...

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float = 10.0) -> None: ...


@dataclass(frozen=True)
class Heard:
    tone_s: float
    speech_s: float


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
    loud = np.flatnonzero(window_dbfs(pcm, rate, window_s) > LOUD_DBFS)
    return (loud[0] * window_s if len(loud) else -1.0), len(loud) * window_s


def last_loud_at(listener: Listener, uuid: str, since_s: float = 0.0) -> float | None:
    """When the latest loud frame from `uuid` arrived (epoch s), if one did after `since_s`."""
    loud = [
        arrived
        for arrived, pcm in listener.heard.get(uuid, [])
        if arrived >= since_s and rms_dbfs(pcm) > LOUD_DBFS
    ]
    return loud[-1] if loud else None


def quiet_for(listener: Listener, uuid: str, seconds: float, since_s: float = 0.0) -> bool:
    """`uuid` was heard loud after `since_s`, and nothing loud came for `seconds` since."""
    last = last_loud_at(listener, uuid, since_s)
    return last is not None and time.time() - last >= seconds


async def heard_something_then_quiet(listener: Listener, uuid: str, since_s: float) -> None:
    """Until `listener` heard `uuid` loud and then 1 s of quiet (longer than a sentence's end)."""
    await listener.wait_for(lambda: quiet_for(listener, uuid, 1.0, since_s), timeout_s=30)


async def a_listener_hears_the_bot(
    live: Live, bot_id: str, listener: Listener, bot_uuid: str
) -> Heard:
    """The bot, silent so far, plays a tone and says SENTENCE; `listener` hears both."""
    # the bot's stream arrives (a silent bot's packets are 400 ms apart)
    await listener.wait_for(lambda: len(listener.heard.get(bot_uuid, [])) >= 3, timeout_s=30)
    idle = listener.heard_from(bot_uuid)
    assert rms_dbfs(idle) < -60, "the bot is silent until asked to speak"

    # output_audio: one second of tone
    asked = time.time()
    response = await asyncio.to_thread(
        live.http.post,
        f"/api/v1/bots/{bot_id}/output_audio",
        json={"type": "audio/wav", "data": base64.b64encode(tone_wav(1.0)).decode()},
    )
    assert response.status_code == 200, response.text
    await heard_something_then_quiet(listener, bot_uuid, asked)
    first, tone_s = loud_seconds(listener.heard_from(bot_uuid, since_s=asked))
    assert 0.9 <= tone_s <= 1.2, f"heard {tone_s} s of a 1 s tone"
    assert first < 3.0, f"the tone started {first} s after the request"

    # speech, with the offline engine: about as long as the engine's own rendering of the text
    asked = time.time()
    response = await asyncio.to_thread(
        live.http.post, f"/api/v1/bots/{bot_id}/speech", json={"text": SENTENCE}
    )
    assert response.status_code == 200, response.text
    await heard_something_then_quiet(listener, bot_uuid, asked)
    first, speech_s = loud_seconds(listener.heard_from(bot_uuid, since_s=asked))
    _, expected_s = loud_seconds(spoken_by_the_engine(SENTENCE), 16000)
    assert 0.7 * expected_s <= speech_s <= 1.3 * expected_s + 0.2, (speech_s, expected_s)
    assert first < 3.0, f"speech started {first} s after the request"

    with live.ctx.db.read() as conn:
        left_over = conn.execute(
            select(bot_output_requests.c.id).where(bot_output_requests.c.bot_id == bot_id)
        ).all()
    assert left_over == [], "the bot keeps no copy of what it was asked to say"
    return Heard(tone_s, speech_s)


def assert_recording_holds_what_was_heard(live: Live, bot_id: str, heard: Heard) -> None:
    """The listener was silent: everything loud in the bot's recording is the bot itself."""
    recording = live.http.get(f"/api/v1/bots/{bot_id}/recording").json()
    audio, rate = decode_mono(live.download(recording["url"]))
    pcm = (audio * 32767).astype(np.int16)
    _, recorded_s = loud_seconds(pcm, rate)
    heard_s = heard.tone_s + heard.speech_s
    assert 0.8 * heard_s <= recorded_s <= 1.2 * heard_s + 0.2, (recorded_s, heard_s)
