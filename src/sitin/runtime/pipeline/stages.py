"""The stages of a bot's pipeline, each wrapping one component that does the real work.

    stage               takes                       emits (besides what it passes on unchanged)
    PauseGate           RecordingPaused/Resumed     -; drops audio, speech on/off and (unless
                                                    allowed) chat while recording is paused
    RecordingStage      AudioFrame (a tap),         -; mixes and encodes in its own thread, and
                        BotSpoke (consumed)         at EndOfStream hands the file to `store`
    TrackStage          AudioFrame (a tap)          -; keeps each participant's whole track,
                                                    sealed, for the accuracy pass (tracks.py)
    SegmentationStage   AudioFrame (consumed)       SpeechSegment, per participant (silero VAD)
    TranscriptionStage  SpeechSegment (consumed)    Utterance, once the provider has answered
    RealtimeAudioStage  AudioFrame (a tap)          AudioOut, ClearAudioOut from the user's
                        (in pipeline/realtime.py)   server; streams the meeting's audio to it
    PlaybackStage       AudioOut, ClearAudioOut     -; the one way the bot's voice reaches the
                        (consumed)                  meeting (speech, output_audio, realtime)

The capture stage that writes events and utterances to the database is ``CaptureWriter``
(``runtime/capture_writer.py``). Blocking work (VAD, encoding, uploads) never runs on the loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np

from sitin.encryption import DataKey
from sitin.runtime.adapters.base import OutputQueueFull
from sitin.runtime.frames import (
    AudioFrame,
    AudioOut,
    BotSpoke,
    ChatReceived,
    ClearAudioOut,
    EndOfStream,
    Frame,
    ParticipantJoined,
    RecordingPaused,
    RecordingResumed,
    SpeechSegment,
    SpeechStart,
    SpeechStop,
    Utterance,
)
from sitin.runtime.pipeline.base import Stage
from sitin.runtime.pipeline.recorder import Recorder
from sitin.runtime.pipeline.speech import SpeakerSegmenters
from sitin.runtime.pipeline.tracks import ParticipantTracks
from sitin.runtime.pipeline.transcriber import SegmentTranscriber
from sitin.transcription.base import Transcription, TranscriptionFailed, TranscriptionProvider

# The recorder's name for the bot's own voice (a participant uuid never has this form).
BOT_VOICE = "sitin:bot-voice"
SEGMENT_BATCH_S = 0.2  # audio is handed to speech detection (in a thread) this often


class PauseGate(Stage):
    """While paused, what the meeting says is not captured; joins and leaves still are."""

    def __init__(self, *, keep_chat_when_paused: bool) -> None:
        self.keep_chat_when_paused = keep_chat_when_paused
        self.paused = False

    async def process(self, frame: Frame) -> None:
        if isinstance(frame, RecordingPaused | RecordingResumed):
            self.paused = isinstance(frame, RecordingPaused)
        elif self.paused and self._held_back(frame):
            return
        await self.emit(frame)

    def _held_back(self, frame: Frame) -> bool:
        if isinstance(frame, ChatReceived):
            return not self.keep_chat_when_paused
        return isinstance(frame, AudioFrame | BotSpoke | SpeechStart | SpeechStop)


class RecordingStage(Stage):
    """Records the mix of everyone's audio and the bot's voice; paused spans are cut out."""

    def __init__(self, recorder: Recorder, store: Callable[[Recorder], Awaitable[None]]) -> None:
        self.recorder = recorder
        self._store = store

    async def process(self, frame: Frame) -> None:
        if isinstance(frame, AudioFrame):
            self.recorder.push(frame)
        elif isinstance(frame, BotSpoke):  # recorded, never transcribed nor streamed out
            self.recorder.push(AudioFrame(BOT_VOICE, frame.pcm, frame.timestamp_ms), received=False)
            return
        elif isinstance(frame, RecordingPaused):
            self.recorder.pause(frame.at_ms)
        elif isinstance(frame, RecordingResumed):
            self.recorder.resume(frame.at_ms)
        elif isinstance(frame, EndOfStream):
            await self.recorder.aclose()
            await self._store(self.recorder)
        await self.emit(frame)


class TrackStage(Stage):
    """Keeps every participant's audio whole (sealed) for the post-meeting accuracy pass; frames
    are written in a thread once per SEGMENT_BATCH_S. At EndOfStream the files are finished."""

    def __init__(
        self,
        tracks: ParticipantTracks,
        *,
        batch_s: float = SEGMENT_BATCH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tracks = tracks
        self._batch: list[AudioFrame] = []
        self._batch_s = batch_s
        self._clock = clock
        self._fed_at = clock()

    async def process(self, frame: Frame) -> None:
        if isinstance(frame, ParticipantJoined):
            self.tracks.joined(frame)
        elif isinstance(frame, AudioFrame):
            self._batch.append(frame)
            if self._clock() - self._fed_at >= self._batch_s:
                await self._write_batch()
        elif isinstance(frame, EndOfStream):
            await self._write_batch()
            await asyncio.to_thread(self.tracks.close)
        await self.emit(frame)

    async def _write_batch(self) -> None:
        batch, self._batch = self._batch, []
        self._fed_at = self._clock()
        if batch:
            await asyncio.to_thread(self._write, batch)

    def _write(self, frames: list[AudioFrame]) -> None:
        for frame in frames:
            self.tracks.feed(frame.uuid, frame.pcm, frame.timestamp_ms)


class SegmentationStage(Stage):
    """Cuts each participant's audio into speech segments.

    Frames are collected and fed to the segmenters in a thread once per SEGMENT_BATCH_S, so the
    VAD model costs a few thread hops a second, not one per 20 ms frame per participant.
    """

    def __init__(
        self,
        segmenters: SpeakerSegmenters,
        *,
        batch_s: float = SEGMENT_BATCH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.segmenters = segmenters
        self._batch: list[AudioFrame] = []
        self._batch_s = batch_s
        self._clock = clock
        self._fed_at = clock()

    async def process(self, frame: Frame) -> None:
        if isinstance(frame, AudioFrame):
            self._batch.append(frame)
            if self._clock() - self._fed_at >= self._batch_s:
                await self._feed_batch()
            return
        if isinstance(frame, EndOfStream):
            await self._feed_batch()
            for segment in await asyncio.to_thread(self.segmenters.flush_all):
                await self.emit(segment)
        await self.emit(frame)

    async def _feed_batch(self) -> None:
        batch, self._batch = self._batch, []
        self._fed_at = self._clock()
        if batch:
            for segment in await asyncio.to_thread(self._segment, batch):
                await self.emit(segment)

    def _segment(self, frames: list[AudioFrame]) -> list[SpeechSegment]:
        segments: list[SpeechSegment] = []
        for frame in joined_runs(frames):
            segments += self.segmenters.feed(frame.uuid, frame.pcm, frame.timestamp_ms)
        return segments


def joined_runs(frames: list[AudioFrame]) -> list[AudioFrame]:
    """Each participant's frames joined into one wherever each begins where the one before it
    ended (within a millisecond), in order: the segmenter then resamples and runs the VAD model
    once per run, not once per 20 ms frame, and finds the same speech."""
    runs: dict[str, list[AudioFrame]] = {}
    joined: list[AudioFrame] = []
    for frame in frames:
        run = runs.get(frame.uuid)
        if run and abs(frame.timestamp_ms - run[-1].timestamp_ms - run[-1].duration_ms) <= 1.0:
            run.append(frame)
            continue
        if run:  # a hole (or an overlap): what came before is a run of its own
            joined.append(_join(run))
        runs[frame.uuid] = [frame]
    joined += [_join(run) for run in runs.values()]
    return joined


def _join(run: list[AudioFrame]) -> AudioFrame:
    if len(run) == 1:
        return run[0]
    return AudioFrame(run[0].uuid, np.concatenate([f.pcm for f in run]), run[0].timestamp_ms)


class TranscriptionStage(Stage):
    """Transcribes segments in the background (a backlog that spills to disk, retries); each
    segment comes out exactly once as an Utterance, with its text or the reason it failed."""

    def __init__(
        self,
        provider: TranscriptionProvider,
        *,
        work_dir: Path,
        seal_with: DataKey,
        **options: float,
    ) -> None:
        self.transcriber = SegmentTranscriber(
            provider, self._deliver, work_dir=work_dir, seal_with=seal_with, **options
        )

    async def process(self, frame: Frame) -> None:
        if isinstance(frame, SpeechSegment):
            self.transcriber.submit(frame)
            return
        if isinstance(frame, EndOfStream):
            try:
                await self.transcriber.drain()
            finally:
                await self.transcriber.provider.aclose()
        await self.emit(frame)

    async def _deliver(
        self,
        segment: SpeechSegment,
        transcription: Transcription | None,
        failure: TranscriptionFailed | None,
    ) -> None:
        await self.emit(Utterance(segment, transcription, failure))


class PlaybackStage(Stage):
    """Everything the bot says goes through here, in order, to the meeting adapter's queue
    (`play`), which plays it without gaps. A ClearAudioOut (barge-in) empties that queue at once
    (`clear`), drops every AudioOut made before it that is still arriving, and tells `on_clear`
    (the speaker forgets the requests it has not finished)."""

    def __init__(
        self,
        play: Callable[[np.ndarray], None],
        clear: Callable[[], float],
        *,
        report: Callable[[str], Awaitable[None]],
        on_clear: Callable[[], None] = lambda: None,
    ) -> None:
        self._play = play
        self._clear = clear
        self._report = report
        self._on_clear = on_clear
        self._cleared_at = float("-inf")
        self._refusing = False  # the adapter's queue is full: reported once until it takes again
        self.dropped_ms = 0.0  # audio dropped by barge-in, and refused by a full queue

    async def process(self, frame: Frame) -> None:
        if isinstance(frame, AudioOut):
            if frame.made_at >= self._cleared_at:
                await self._queue(frame)
            else:
                self.dropped_ms += frame.duration_ms
            return
        if isinstance(frame, ClearAudioOut):
            self._cleared_at = max(self._cleared_at, frame.at)
            self.dropped_ms += self._clear()
            self._on_clear()
            return
        await self.emit(frame)

    async def _queue(self, frame: AudioOut) -> None:
        try:
            self._play(frame.pcm)
        except OutputQueueFull as exc:
            self.dropped_ms += frame.duration_ms
            if not self._refusing:
                self._refusing = True
                await self._report(f"the bot's audio is being dropped: {exc}")
        else:
            self._refusing = False
