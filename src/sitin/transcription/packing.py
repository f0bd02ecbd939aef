"""Several speech segments decoded in one Whisper window, and each word given back to its own.

Whisper encodes 30 s of audio whatever it is given (a shorter window makes the decoder run on past
the speech; see offline.py), so one segment of a few seconds pays for 30. `WindowPacker` lays the
segments that are waiting (from every speaker and every bot of the process sharing the model) end
to end in one window, each followed by a short silence, decodes once with word timestamps, and
splits the words back by time: a word belongs to the segment whose audio (plus half the silence
on each side) holds its midpoint. Words placed after the last segment's audio are not speech of
any segment (the decoder running on into the padding) and are dropped.

Nothing waits to fill a window: a decode starts as soon as the engine is free, taking whatever is
pending (oldest first, and past a segment too long for the room left: several bots hearing one
long turn queue segments that go one to a window, and the shorter ones behind them fill it).
With one speaker at a time a window holds one segment, exactly as before; under load, the
segments that arrived during the previous decode share the next one.

The engine may decode several windows side by side (`workers`), but a second one starts only
when the first falls behind: more than a window's worth pending, or a segment waiting OVERFLOW_S.
Started at once, the second decode took whatever had just arrived, and windows went out nearly
empty, each paying the full encoder pass: twelve bots (benchmarks/transcription.py --bots 12
--packed-only) cost 14.9 % of a core each with two decodes at once against 10.9 % with one,
for 1.34 s against 1.56 s of median delay.

A segment cut from a longer stretch of talk, decoded alone, loses what came before: tiny.en heard
"ask not" as "asked not" and "ill disposed" as "old -sposed" where the same words in the speaker's
whole track came out right. The room a window has left is therefore given to context: the tail of
the same speaker's earlier speech, placed before the segment with a gap between (its words are
dropped: they were their own segment's). Context costs decoder time, never another window; under
load the windows fill with segments and the context shrinks to nothing.

Whisper checks its own output for a decoder stuck repeating itself: text that compresses too well
(REPETITIVE_RATIO) is decoded again at rising temperatures, up to five more decoder passes. On a
packed window that check sees unrelated segments as one text: two bots in one meeting, or one
speaker saying the same thing twice, look like a loop, and every such window paid for the five
passes (benchmarks/bot_density.py --pin --turn-taking, five bots: 11 of 25 windows, a window
3-4x its cost). The window is therefore decoded once, and the check is made on each segment's own
words: a segment that fails it is decoded again alone, with Whisper's own retries.

A window gets one encoder pass (one_pass.py): a decode may stop before the window's end, and the
segments it did not reach go first into the next window; one that no window reaches twice is
decoded alone.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from sitin.transcription.base import SAMPLE_RATE

WINDOW_S = 30.0  # Whisper's window
# Silence left after a window's last segment. With speech up to the window's very end the decoder
# cannot close its last phrase with a timestamp, and faster-whisper decodes that phrase again in a
# window of its own: a second encoder pass, most of what a window costs. Without this room nearly
# every full window of the turn-taking meeting took two (benchmarks/transcription.py --bots).
END_ROOM_S = 2.0
PACKED_S = WINDOW_S - END_ROOM_S  # what a window holds: segments, the gaps after them, context
GAP_S = 1.0  # silence after each segment in a window: room for word-timing error at the edges
MIN_CONTEXT_S = 1.0  # a shorter tail of a segment's context is not worth its gap
MAX_MISSES = 2  # windows a segment may be left out of by a decode stopping short; then alone
OVERFLOW_S = 1.0  # how long the oldest waiting segment may wait before another decode starts
# Whisper's compression_ratio_threshold: text whose UTF-8 is this many times its zlib size is taken
# for a decoder loop.
REPETITIVE_RATIO = 2.4
_NO_AUDIO = np.zeros(0, dtype=np.float32)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Word:
    text: str
    start: float  # seconds
    end: float
    probability: float


@dataclass(frozen=True)
class Decoded:
    words: list[Word]
    language: str | None
    # Seconds into the audio the decode saw through (one_pass.py); words after it are missing.
    covered: float = math.inf


Decode = Callable[[np.ndarray], Decoded]  # the model on one window of 16 kHz audio (blocking)


def too_repetitive(words: Sequence[Word]) -> bool:
    """Whether these words repeat themselves as a decoder loop does (Whisper's own measure)."""
    text = " ".join(word.text for word in words).encode()
    return bool(text) and len(text) / len(zlib.compress(text)) > REPETITIVE_RATIO


@dataclass(frozen=True)
class Layout:
    """Where each piece sits in a packed window, in samples: its first sample, its length, and how
    much of its start is context (the speaker's earlier audio and a gap after it), whose words
    belong to no one: they were that earlier audio's own segment's."""

    offsets: tuple[int, ...]
    lengths: tuple[int, ...]
    gap: int
    contexts: tuple[int, ...] = ()

    @classmethod
    def of(cls, lengths: Sequence[int], gap: int, contexts: Sequence[int] = ()) -> Layout:
        offsets, cursor = [], 0
        for length in lengths:
            offsets.append(cursor)
            cursor += length + gap
        return cls(tuple(offsets), tuple(lengths), gap, tuple(contexts) or (0,) * len(lengths))

    def audio(self, pieces: Sequence[np.ndarray]) -> np.ndarray:
        """The window's audio: the model pads it to 30 s after the last piece."""
        window = np.zeros(self.offsets[-1] + self.lengths[-1], dtype=np.float32)
        for offset, piece in zip(self.offsets, pieces, strict=True):
            window[offset : offset + len(piece)] = piece
        return window

    def reached(self, covered: float) -> list[bool]:
        """Whether a decode that saw `covered` seconds of the window through heard each piece
        to its end (up to the middle of the gap after it: a phrase closes at its last word)."""
        half_gap = self.gap / 2
        return [
            covered * SAMPLE_RATE >= offset + length - half_gap
            for offset, length in zip(self.offsets, self.lengths, strict=True)
        ]

    def split(self, words: Sequence[Word]) -> list[list[Word]]:
        """Each segment's words, timed from that segment's own start (after its context)."""
        rate = SAMPLE_RATE
        owned: list[list[Word]] = [[] for _ in self.offsets]
        half_gap = self.gap / 2 / rate
        pieces = list(zip(self.offsets, self.lengths, self.contexts, strict=True))
        for word in words:
            middle = (word.start + word.end) / 2
            for index, (offset, length, context) in enumerate(pieces):
                begin, end = (offset + context) / rate, (offset + length) / rate
                if middle < begin - half_gap:
                    break  # in this piece's context (up to the middle of the gap after it)
                if middle < end + half_gap:
                    owned[index].append(
                        Word(
                            word.text,
                            max(0.0, word.start - begin),
                            min((length - context) / rate, max(0.0, word.end - begin)),
                            word.probability,
                        )
                    )
                    break
        return owned


@dataclass
class _Job:
    samples: np.ndarray
    context: np.ndarray
    future: Future = field(default_factory=Future)
    missed: int = 0  # windows whose decode stopped before reaching it
    queued_at: float = field(default_factory=time.monotonic)


@dataclass
class PackerStats:
    windows: int = 0  # decodes run
    segments: int = 0  # segments decoded
    audio_s: float = 0.0  # seconds of segment audio decoded
    context_s: float = 0.0  # seconds of context decoded with them (words dropped)
    decoded_alone: int = 0  # segments decoded again alone: words repeated, or no window reached
    missed: int = 0  # times a decode stopped before a segment of its window (it went again)


class WindowPacker:
    """Segments from any thread or event loop, decoded several to a window by up to `workers`
    threads at once (the model's own parallel workers). `decode` runs the model on a window
    without its repetition check, and may stop before the window's end (`Decoded.covered`);
    `decode_alone` (if given) on one segment with the check and to its end, for a segment whose
    words in the window repeat themselves or that no window reached (MAX_MISSES)."""

    def __init__(
        self,
        decode: Decode,
        *,
        decode_alone: Decode | None = None,
        workers: int = 1,
        window_s: float = PACKED_S,
        gap_s: float = GAP_S,
        overflow_s: float = OVERFLOW_S,
    ) -> None:
        self._decode = decode
        self._decode_alone = decode_alone
        self.workers = max(1, workers)
        self.window = round(window_s * SAMPLE_RATE)
        self.gap = round(gap_s * SAMPLE_RATE)
        self.overflow_s = overflow_s
        self.stats = PackerStats()
        self._lock = threading.Lock()
        self._pending: list[_Job] = []
        self._running = 0

    def submit(self, samples: np.ndarray, context: np.ndarray | None = None) -> tuple[Future, bool]:
        """Queue one segment, optionally after `context` (the same speaker's audio just before it:
        decoded with it, its words dropped). Returns the segment's future (a `Decoded` of its own
        words) and whether the caller must now run `drain()` (in a thread of its own: it decodes
        until nothing is left)."""
        job = _Job(samples, context if context is not None else _NO_AUDIO)
        with self._lock:
            self._pending.append(job)
            start = self._running == 0 or (self._running < self.workers and self._overflowing())
            if start:
                self._running += 1
        return job.future, start

    def _overflowing(self) -> bool:
        """Whether what is pending needs another decode beside those running (under the lock)."""
        waiting = sum(len(job.samples) + self.gap for job in self._pending)
        oldest = self._pending[0].queued_at
        return waiting > self.window or time.monotonic() - oldest >= self.overflow_s

    def drain(self) -> None:
        """Decode windows until nothing is pending."""
        try:
            while True:
                with self._lock:
                    batch = self._take()
                    if not batch:
                        self._running -= 1  # under the same lock as the empty check: no job waits
                        return
                self._run(batch)
        except BaseException:
            with self._lock:
                self._running -= 1
            raise

    def _take(self) -> list[tuple[_Job, np.ndarray]]:
        """The oldest pending segment, then, oldest first, every other that still fits in the
        window (one that does not waits for the next, where it is among the oldest), each with
        as much of its context as the room left in the window allows (its tail, after a gap;
        none if under MIN_CONTEXT_S fits): context never costs another window."""
        taken: list[_Job] = []
        waiting: list[_Job] = []
        used = -self.gap
        for job in self._pending:
            needed = self.gap + len(job.samples)
            if taken and used + needed > self.window:
                waiting.append(job)
                continue
            taken.append(job)
            used += needed
        self._pending = waiting
        batch = []
        for job in taken:
            room = self.window - used - self.gap
            context = job.context[max(0, len(job.context) - room) :] if room > 0 else _NO_AUDIO
            if len(context) < MIN_CONTEXT_S * SAMPLE_RATE:
                context = _NO_AUDIO
            else:
                used += len(context) + self.gap
            batch.append((job, context))
        return batch

    def _run(self, batch: list[tuple[_Job, np.ndarray]]) -> None:
        silence = np.zeros(self.gap, dtype=np.float32)
        pieces = [
            np.concatenate([context, silence, job.samples]) if len(context) else job.samples
            for job, context in batch
        ]
        contexts = [len(c) + self.gap if len(c) else 0 for _, c in batch]
        layout = Layout.of([len(piece) for piece in pieces], self.gap, contexts)
        try:
            decoded = self._decode(layout.audio(pieces))
        except BaseException as error:  # every segment of the window learns of it
            for job, _ in batch:
                job.future.set_exception(error)
            if isinstance(error, Exception):
                return
            raise
        jobs = [job for job, _ in batch]
        split, reach = layout.split(decoded.words), layout.reached(decoded.covered)
        outcomes = list(zip(jobs, split, reach, strict=True))  # (job, its words, reached?)
        for job, _, reached in outcomes:
            job.missed += not reached
        again = [job for job, _, reached in outcomes if not reached and job.missed < MAX_MISSES]
        with self._lock:
            self.stats.windows += 1
            self.stats.segments += len(batch) - len(again)
            self.stats.missed += sum(not reached for _, _, reached in outcomes)
            self.stats.audio_s += sum(len(job.samples) for job in jobs) / SAMPLE_RATE
            self.stats.context_s += sum(len(context) for _, context in batch) / SAMPLE_RATE
            self._pending[:0] = again  # first into the next window, in their order
        for job, words, reached in outcomes:
            if not reached and job.missed < MAX_MISSES:
                continue  # it goes again, in the next window
            if self._decode_alone is not None and (not reached or too_repetitive(words)):
                words = self._decoded_alone(job.samples, words)
            job.future.set_result(Decoded(words, decoded.language))

    def _decoded_alone(self, samples: np.ndarray, words: list[Word]) -> list[Word]:
        """The segment's words from a decode of its own; the window's if that one fails."""
        assert self._decode_alone is not None
        try:
            alone = self._decode_alone(samples).words
        except Exception:
            log.exception("decoding a segment alone failed; keeping its words from the window")
            return words
        with self._lock:
            self.stats.decoded_alone += 1
        return alone
