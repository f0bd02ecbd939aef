"""The post-meeting accuracy pass: each participant's whole track, transcribed again by the same
offline model, replaces that participant's realtime utterances.

Opt-in per bot (`transcription_settings.offline.accuracy_pass`). The realtime utterances are
written and reported during the meeting as always; the pass runs while the bot is in
post_processing (Attendee's state for work after the meeting), after the pipeline has finished,
and the bot reaches `ended` only afterwards. Live segments are cut by the VAD as speech arrives;
the whole track lets the model hear every sentence with what came before it, as it was trained
(benchmarks/transcription.py --fidelity shows both, side by side).

Nothing is lost on a crash: every track is transcribed first, in memory, then one transaction
removes the realtime utterances of the participants heard and writes the new ones (through the
deletion fence), with a `transcript.update` webhook per new utterance, exactly as the realtime
path reports them. Until that commit the realtime transcript stands; a pass that fails or is
interrupted leaves it as it was, with a bot log entry saying so. Progress is in the bot log.
The tracks are sealed scratch files (tracks.py), removed when the pass ends either way; a long
stretch of a track is read and decoded ten minutes at a time (memory: ~64 kB per second of it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from sitin.context import AppContext
from sitin.core.triggers import Trigger
from sitin.db import capture
from sitin.db.capture import DataDeleted
from sitin.faults import checkpoint
from sitin.runtime import botstate
from sitin.runtime.frames import ParticipantJoined
from sitin.runtime.pipeline.tracks import ParticipantTrack, ParticipantTracks
from sitin.transcription.base import SAMPLE_RATE, TranscriptionFailed
from sitin.transcription.offline import OfflineWhisperProvider
from sitin.webhooks import envelope
from sitin.webhooks.dispatch import fire

log = logging.getLogger(__name__)

ENTRY_TYPE = "accuracy_pass"
SOURCE = "accuracy_pass"  # utterances.source of what the pass wrote
CHUNK_S = 600.0  # a longer stretch of a track is decoded in pieces of at most this
CUT_SEARCH_S = 20.0  # each piece ends at the quietest moment of its last seconds


@dataclass(frozen=True)
class NewUtterance:
    timestamp_ms: int  # the meeting's clock (capture time of its first word)
    duration_ms: int
    transcription: dict[str, Any]


@dataclass(frozen=True)
class PassResult:
    participants: int
    utterances: int
    removed: int
    audio_s: float
    wall_s: float


def transcribe_track(
    provider: OfflineWhisperProvider, track: ParticipantTrack, *, chunk_s: float = CHUNK_S
) -> list[NewUtterance]:
    """One participant's utterances as the model hears their whole track (blocking). A long
    stretch is decoded `chunk_s` at a time, each cut at the quietest moment near its end, so
    that memory stays bounded whatever the meeting's length."""
    found = []
    for span in track.spans:
        start = 0
        while start < span.length:
            audio = track.read(span, start, round(chunk_s * SAMPLE_RATE))
            if start + len(audio) < span.length:
                audio = audio[: quiet_cut(audio)]
            found += phrases_of(provider, audio, span.start_ms + start * 1000 / SAMPLE_RATE)
            start += len(audio)
    return found


def quiet_cut(audio: np.ndarray) -> int:
    """Where to end a chunk: the middle of its quietest 0.5 s in the last CUT_SEARCH_S."""
    window = SAMPLE_RATE // 2
    tail = audio[max(0, len(audio) - round(CUT_SEARCH_S * SAMPLE_RATE)) :]
    if len(tail) <= window:
        return len(audio)
    energy = np.convolve(tail**2, np.ones(window), mode="valid")
    return len(audio) - len(tail) + int(np.argmin(energy)) + window // 2


def phrases_of(
    provider: OfflineWhisperProvider, audio: np.ndarray, start_ms: float
) -> list[NewUtterance]:
    found = []
    for start_s, result in provider.transcribe_track_blocking(audio):
        end_s = max((word["end"] for word in result.words), default=0.0)
        found.append(
            NewUtterance(
                timestamp_ms=round(start_ms + start_s * 1000),
                duration_ms=max(1, round(end_s * 1000)),
                transcription={
                    "transcript": result.transcript,
                    "words": result.words,
                    "language": result.language,
                },
            )
        )
    return found


def replace_transcript(
    ctx: AppContext, bot_id: str, heard: list[tuple[ParticipantJoined, list[NewUtterance]]]
) -> int:
    """One transaction: each heard participant's utterances replaced, one transcript.update per
    new utterance. Returns how many realtime utterances were removed. DataDeleted if the bot's
    data was deleted meanwhile (then nothing is written)."""
    removed = 0
    with ctx.db.write() as tx:
        for person, found in heard:
            participant_id = capture.upsert_participant(
                tx,
                bot_id=bot_id,
                uuid=person.uuid,
                name=person.name,
                is_host=person.is_host,
                user_uuid=person.user_uuid,
            )
            removed += capture.replace_utterances(
                tx,
                bot_id=bot_id,
                participant_id=participant_id,
                new=[(u.timestamp_ms, u.duration_ms, u.transcription) for u in found],
                source=SOURCE,
            )
            for utterance in found:
                fire(
                    tx,
                    bot_id=bot_id,
                    trigger=Trigger.TRANSCRIPT_UPDATE,
                    data=envelope.transcript_data(
                        speaker_name=person.name,
                        speaker_uuid=person.uuid,
                        speaker_user_uuid=person.user_uuid,
                        speaker_is_host=person.is_host,
                        timestamp_ms=utterance.timestamp_ms,
                        duration_ms=utterance.duration_ms,
                        transcript=utterance.transcription["transcript"],
                    ),
                )
        checkpoint(ctx.settings, "accuracy_pass.before_commit")
    return removed


async def run_accuracy_pass(
    ctx: AppContext, bot_id: str, tracks: ParticipantTracks, provider: OfflineWhisperProvider
) -> PassResult | None:
    """Run the pass over the finished `tracks` and remove them. Returns what it did, or None if
    it did not replace the transcript (it failed, or the data was deleted): the realtime
    transcript then stands, and the bot log says why. Cancellation (the worker stopping) is
    logged and re-raised."""

    async def report(level: str, message: str) -> None:
        await asyncio.to_thread(
            botstate.log, ctx, bot_id, level=level, entry_type=ENTRY_TYPE, message=message
        )

    started = time.monotonic()
    try:
        finished = [t for t in await asyncio.to_thread(tracks.close) if t.seconds > 0]
        audio_s = sum(track.seconds for track in finished)
        await report(
            "info",
            f"accuracy pass started: {len(finished)} participants, {audio_s:.0f} s of audio; "
            "the realtime transcript stays until the pass is done",
        )
        heard = []
        for number, track in enumerate(finished, 1):
            found = await asyncio.to_thread(transcribe_track, provider, track)
            heard.append((track.person, found))
            await report(
                "info",
                f"accuracy pass: participant {number} of {len(finished)} transcribed "
                f"({track.seconds:.0f} s of audio, {len(found)} utterances)",
            )
        removed = await asyncio.to_thread(replace_transcript, ctx, bot_id, heard)
        result = PassResult(
            participants=len(finished),
            utterances=sum(len(found) for _, found in heard),
            removed=removed,
            audio_s=audio_s,
            wall_s=time.monotonic() - started,
        )
        await report(
            "info",
            f"accuracy pass done: {result.removed} realtime utterances replaced by "
            f"{result.utterances} in {result.wall_s:.0f} s",
        )
        return result
    except asyncio.CancelledError:
        await asyncio.shield(
            report(
                "warning",
                "accuracy pass abandoned (the bot was stopped): the realtime transcript is kept",
            )  # fmt: skip
        )
        raise
    except DataDeleted:
        log.info("bot %s: data deleted during the accuracy pass; nothing written", bot_id)
        return None
    except Exception as error:
        reason = error.reason if isinstance(error, TranscriptionFailed) else type(error).__name__
        if not isinstance(error, TranscriptionFailed):
            log.exception("bot %s: the accuracy pass failed", bot_id)
        await report("error", f"accuracy pass failed ({reason}): the realtime transcript is kept")
        return None
    finally:
        await asyncio.to_thread(tracks.discard)
