"""Several speech segments decoded in one Whisper window, and each word given back to its own.

Whisper encodes 30 s of audio whatever it is given (a shorter window makes the decoder run on past
the speech; see offline.py), so one segment of a few seconds pays for 30. `WindowPacker` lays the
segments that are waiting (from every speaker and every bot of the process sharing the model) end
to end in one window, each followed by a short silence, decodes once with word timestamps, and
splits the words back by time: a word belongs to the segment whose audio (plus half the silence
on each side) holds its midpoint. Words placed after the last segment's audio are not speech of
any segment (the decoder running on into the padding) and are dropped.

Nothing waits to fill a window: a decode starts as soon as the engine is free, taking whatever is
pending (oldest first). With one speaker at a time a window holds one segment, exactly as before;
under load, the segments that arrived during the previous decode share the next one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from sitin.transcription.base import SAMPLE_RATE

WINDOW_S = 30.0  # Whisper's window
GAP_S = 1.0  # silence after each segment in a window: room for word-timing error at the edges


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


Decode = Callable[[np.ndarray], Decoded]  # the model on one window of 16 kHz audio (blocking)


@dataclass(frozen=True)
class Layout:
    """Where each segment sits in a packed window: its first sample and its length, in samples."""

    offsets: tuple[int, ...]
    lengths: tuple[int, ...]
    gap: int

    @classmethod
    def of(cls, lengths: Sequence[int], gap: int) -> Layout:
        offsets, cursor = [], 0
        for length in lengths:
            offsets.append(cursor)
            cursor += length + gap
        return cls(tuple(offsets), tuple(lengths), gap)

    def audio(self, pieces: Sequence[np.ndarray]) -> np.ndarray:
        """The window's audio: the model pads it to 30 s after the last segment."""
        window = np.zeros(self.offsets[-1] + self.lengths[-1], dtype=np.float32)
        for offset, piece in zip(self.offsets, pieces, strict=True):
            window[offset : offset + len(piece)] = piece
        return window

    def split(self, words: Sequence[Word]) -> list[list[Word]]:
        """Each segment's words, timed from that segment's own start."""
        rate = SAMPLE_RATE
        owned: list[list[Word]] = [[] for _ in self.offsets]
        half_gap = self.gap / 2 / rate
        for word in words:
            middle = (word.start + word.end) / 2
            for index, (offset, length) in enumerate(zip(self.offsets, self.lengths, strict=True)):
                begin, end = offset / rate, (offset + length) / rate
                if begin - half_gap <= middle < end + half_gap:
                    owned[index].append(
                        Word(
                            word.text,
                            max(0.0, word.start - begin),
                            min(length / rate, max(0.0, word.end - begin)),
                            word.probability,
                        )
                    )
                    break
        return owned


@dataclass
class _Job:
    samples: np.ndarray
    future: Future = field(default_factory=Future)


@dataclass
class PackerStats:
    windows: int = 0  # decodes run
    segments: int = 0  # segments decoded
    audio_s: float = 0.0  # seconds of segment audio decoded


class WindowPacker:
    """Segments from any thread or event loop, decoded several to a window by up to `workers`
    threads at once (the model's own parallel workers)."""

    def __init__(
        self,
        decode: Decode,
        *,
        workers: int = 1,
        window_s: float = WINDOW_S,
        gap_s: float = GAP_S,
    ) -> None:
        self._decode = decode
        self.workers = max(1, workers)
        self.window = round(window_s * SAMPLE_RATE)
        self.gap = round(gap_s * SAMPLE_RATE)
        self.stats = PackerStats()
        self._lock = threading.Lock()
        self._pending: list[_Job] = []
        self._running = 0

    def submit(self, samples: np.ndarray) -> tuple[Future, bool]:
        """Queue one segment. Returns its future (a `Decoded` of its own words) and whether the
        caller must now run `drain()` (in a thread of its own: it decodes until nothing is left)."""
        job = _Job(samples)
        with self._lock:
            self._pending.append(job)
            start = self._running < self.workers
            if start:
                self._running += 1
        return job.future, start

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

    def _take(self) -> list[_Job]:
        """The oldest pending segments that fit in one window together (always at least one)."""
        taken: list[_Job] = []
        used = -self.gap
        while self._pending:
            needed = self.gap + len(self._pending[0].samples)
            if taken and used + needed > self.window:
                break
            taken.append(self._pending.pop(0))
            used += needed
        return taken

    def _run(self, batch: list[_Job]) -> None:
        layout = Layout.of([len(job.samples) for job in batch], self.gap)
        try:
            decoded = self._decode(layout.audio([job.samples for job in batch]))
        except BaseException as error:  # every segment of the window learns of it
            for job in batch:
                job.future.set_exception(error)
            if isinstance(error, Exception):
                return
            raise
        with self._lock:
            self.stats.windows += 1
            self.stats.segments += len(batch)
            self.stats.audio_s += sum(len(job.samples) for job in batch) / SAMPLE_RATE
        for job, words in zip(batch, layout.split(decoded.words), strict=True):
            job.future.set_result(Decoded(words, decoded.language))
