"""Transcribe speech segments in the background without ever holding up audio capture.

`submit()` never blocks: segments wait in a FIFO backlog. At most `max_memory_seconds` of waiting
audio stays in memory; past that, segments are written to WAV files in `work_dir`, sealed under
the bot's data key (`seal_with`), and read back when their turn comes, so a slow or unreachable
provider costs disk, not RAM, nothing is lost, and no plaintext audio is left on disk.
Retryable failures are retried a few times with exponential backoff; every segment ends in exactly
one `on_result(segment, transcription, None)` or `on_result(segment, None, failure)` call, in
submission order. Up to `concurrency` segments are with the provider at once (by default what the
provider asks for: the offline engine decodes several segments in one window). A segment's
context (its speaker's earlier speech, for the decoder) goes with it while the backlog is short;
a spilled segment, or one handled while more than CONTEXT_BACKLOG_S of audio waits, goes without.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sitin.encryption import ContentUnreadable, DataKey
from sitin.encryption.scratch import read_sealed, write_sealed
from sitin.transcription.base import (
    SAMPLE_RATE,
    SpeechSegment,
    Transcription,
    TranscriptionFailed,
    TranscriptionProvider,
)
from sitin.transcription.wav import decode_wav, encode_wav

log = logging.getLogger(__name__)

CONTEXT_BACKLOG_S = 30.0  # with more audio than this waiting, segments go without their context

ResultCallback = Callable[
    [SpeechSegment, Transcription | None, TranscriptionFailed | None], Awaitable[None]
]


@dataclass
class TranscriberStats:
    done: int = 0  # transcribed and delivered
    failed: int = 0  # delivered as failures (provider refused, retries exhausted)
    spilled: int = 0  # waited on disk instead of in memory
    retries: int = 0
    callback_errors: int = 0  # on_result raised (logged; the segment still counts once)
    abandoned: int = 0  # still waiting when aclose() cancelled the work
    context_dropped: int = 0  # sent without their context because others were waiting


@dataclass
class _Ticket:
    """A segment waiting its turn: samples in memory, or a spill file on disk."""

    speaker_uuid: str
    start_ms: int
    duration_s: float
    samples: np.ndarray | None = None
    context: np.ndarray | None = None  # kept only while the samples are in memory
    path: Path | None = None
    turn: asyncio.Future[None] | None = None  # done once the ticket before this one is delivered
    delivered: asyncio.Future[None] | None = None

    async def load(self, key: DataKey) -> SpeechSegment:
        samples = self.samples
        if samples is None:
            assert self.path is not None
            samples, rate = decode_wav(await asyncio.to_thread(read_sealed, self.path, key))
            if rate != SAMPLE_RATE:
                raise ValueError(f"{self.path.name}: expected {SAMPLE_RATE} Hz, found {rate} Hz")
        return SpeechSegment(self.speaker_uuid, self.start_ms, samples, self.context)

    @property
    def memory_s(self) -> float:
        """Seconds of audio this ticket holds in memory (its samples and their context)."""
        if self.samples is None:
            return 0.0
        return self.duration_s + (0 if self.context is None else len(self.context) / SAMPLE_RATE)

    def discard_file(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class SegmentTranscriber:
    def __init__(
        self,
        provider: TranscriptionProvider,
        on_result: ResultCallback,
        *,
        work_dir: Path,
        seal_with: DataKey,
        max_memory_seconds: float = 120.0,
        max_attempts: int = 3,
        retry_delay_s: float = 1.0,
        concurrency: int | None = None,
    ) -> None:
        self.provider = provider
        self.on_result = on_result
        self.work_dir = Path(work_dir)
        self._key = seal_with
        self.max_memory_seconds = max_memory_seconds
        self.max_attempts = max(1, max_attempts)
        self.retry_delay_s = retry_delay_s
        self.concurrency = max(1, concurrency or provider.segments_at_once)
        self.stats = TranscriberStats()
        self._queue: asyncio.Queue[_Ticket] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._memory_seconds = 0.0
        self._waiting_seconds = 0.0
        self._sequence = itertools.count()
        self._closed = False
        self._last_delivered: asyncio.Future[None] | None = None

    @property
    def backlog_seconds(self) -> float:
        """Seconds of audio submitted and not yet finished (memory and disk)."""
        return self._waiting_seconds

    @property
    def memory_seconds(self) -> float:
        return self._memory_seconds

    def start(self) -> None:
        """Start the workers on the running loop (done by the first submit() otherwise)."""
        if not self._workers:
            self._workers = [
                asyncio.create_task(self._work(), name=f"transcriber-{i}")
                for i in range(self.concurrency)
            ]

    def submit(self, segment: SpeechSegment) -> None:
        """Queue a segment. Never blocks, never drops; call from the event loop thread."""
        if self._closed:
            raise RuntimeError("transcriber is draining or closed; no new segments")
        self.start()
        duration = len(segment.samples) / SAMPLE_RATE
        ticket = _Ticket(segment.speaker_uuid, segment.start_ms, duration)
        ticket.samples, ticket.context = segment.samples, segment.context
        if self._memory_seconds + ticket.memory_s > self.max_memory_seconds and self._spill(
            ticket, segment.samples
        ):  # a spilled segment is transcribed without its context
            ticket.samples = ticket.context = None
        self._memory_seconds += ticket.memory_s
        self._waiting_seconds += duration
        ticket.turn = self._last_delivered
        ticket.delivered = self._last_delivered = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(ticket)

    async def drain(self) -> TranscriberStats:
        """Stop accepting segments, wait until every queued one is delivered, stop the workers."""
        self._closed = True
        if self._workers:
            await self._queue.join()
        await self._stop_workers()
        return self.stats

    async def aclose(self) -> TranscriberStats:
        """Give up now: cancel in-flight work; segments still waiting are counted as abandoned."""
        self._closed = True
        await self._stop_workers()
        while not self._queue.empty():
            ticket = self._queue.get_nowait()
            ticket.discard_file()
            self.stats.abandoned += 1
        if self.stats.abandoned:
            log.warning("transcriber closed with %d segments not transcribed", self.stats.abandoned)
        return self.stats

    def _spill(self, ticket: _Ticket, samples: np.ndarray) -> bool:
        # A 30 s segment is ~1 MB of WAV: a page-cache write, fine to do inline.
        path = self.work_dir / f"segment-{next(self._sequence):08d}.wav"
        try:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            write_sealed(path, self._key, encode_wav(samples))
        except OSError as error:
            log.error("could not spill a segment to %s (%s); keeping it in memory", path, error)
            path.unlink(missing_ok=True)
            return False
        ticket.path = path
        self.stats.spilled += 1
        return True

    async def _work(self) -> None:
        while True:
            ticket = await self._queue.get()
            try:
                await self._handle(ticket)
            except asyncio.CancelledError:
                self.stats.abandoned += 1  # aclose() interrupted it before delivery
                raise
            finally:
                if ticket.delivered is not None and not ticket.delivered.done():
                    ticket.delivered.set_result(None)  # never hold up the tickets after it
                ticket.discard_file()
                self._memory_seconds -= ticket.memory_s
                self._waiting_seconds -= ticket.duration_s
                self._queue.task_done()

    async def _handle(self, ticket: _Ticket) -> None:
        try:
            segment = await ticket.load(self._key)
        except (OSError, ValueError, ContentUnreadable) as error:
            log.error("could not read back spilled segment %s: %s", ticket.path, error)
            segment = SpeechSegment(ticket.speaker_uuid, ticket.start_ms, np.zeros(0, np.float32))
            failure = TranscriptionFailed("spilled audio could not be read back", retryable=False)
            await self._deliver(segment, None, failure, ticket.turn)
            return
        if segment.context is not None and self.backlog_seconds > CONTEXT_BACKLOG_S:
            # the provider is behind: the context's decoder time goes to catching up instead
            segment = replace(segment, context=None)
            self.stats.context_dropped += 1
        transcription, failure = await self._transcribe_with_retries(segment)
        await self._deliver(segment, transcription, failure, ticket.turn)

    async def _transcribe_with_retries(
        self, segment: SpeechSegment
    ) -> tuple[Transcription | None, TranscriptionFailed | None]:
        for attempt in range(self.max_attempts):
            try:
                return await self.provider.transcribe(segment), None
            except TranscriptionFailed as failure:
                if not failure.retryable or attempt + 1 == self.max_attempts:
                    return None, failure
                log.info("%s failed (%s); retrying", self.provider.name, failure.reason)
            except Exception as error:  # a provider bug must not stop the worker
                log.exception("%s raised unexpectedly", self.provider.name)
                reason = f"{self.provider.name} failed unexpectedly: {type(error).__name__}"
                return None, TranscriptionFailed(reason, retryable=False)
            self.stats.retries += 1
            await asyncio.sleep(self.retry_delay_s * 2**attempt)
        raise AssertionError("unreachable")

    async def _deliver(
        self,
        segment: SpeechSegment,
        transcription: Transcription | None,
        failure: TranscriptionFailed | None,
        turn: asyncio.Future[None] | None,
    ) -> None:
        if turn is not None:
            await asyncio.shield(turn)  # in submission order
        try:
            await self.on_result(segment, transcription, failure)
        except Exception:
            self.stats.callback_errors += 1
            log.exception("on_result failed for a segment of %d ms", segment.duration_ms)
        if failure is None:
            self.stats.done += 1
        else:
            self.stats.failed += 1

    async def _stop_workers(self) -> None:
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers = []
