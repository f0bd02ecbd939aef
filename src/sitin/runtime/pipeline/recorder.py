"""Record the meeting's mixed audio to a file (mp3, webm/opus or mp4/aac) in a background thread.

The event loop only hands frames over (`push`, non-blocking); a dedicated thread mixes them and
encodes with PyAV, trailing real time by `latency_ms` so that late frames still land in place.
Paused spans are cut out of the file, so it is shorter by the time spent paused. The file being
encoded is a sealed scratch file under the bot's data key: no plaintext audio is ever on disk;
`open_recording()` reads the finished recording back.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from sitin.core.audio import MEETING_SAMPLE_RATE
from sitin.encryption import DataKey
from sitin.encryption.scratch import SealedScratchFile
from sitin.runtime.frames import AudioFrame
from sitin.runtime.pipeline.mixer import Mixer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Encoding:
    container: str
    codec: str
    bit_rate: int
    options: tuple[tuple[str, str], ...] = ()  # encoder options


ENCODINGS = {
    # LAME's algorithm level 7 ("fast, ok quality") encodes speech twice as fast as the default
    # (3) at the same bit rate and signal-to-noise: ~0.9 % instead of ~2 % of a core per
    # recording on this machine, which matters with dozens of bots per worker
    "mp3": Encoding("mp3", "libmp3lame", 64_000, (("compression_level", "7"),)),
    "webm": Encoding("webm", "libopus", 32_000),
    "mp4": Encoding("mp4", "aac", 64_000),
}
FORMATS = (*ENCODINGS, "none")
TICK_S = 0.25  # how often the thread mixes what arrived and writes it out
# A bot receiving everyone's audio late (a busy process) still records it, up to this late.
MAX_BACKLOG_MS = 10_000.0
_CLOSE = object()


def now_ms() -> float:
    return time.time() * 1000


def open_recorder(
    path: str | Path, fmt: str, *, seal_with: DataKey, **options: float
) -> Recorder | None:
    """A started Recorder for `fmt` in FORMATS, or None for "none"."""
    if fmt == "none":
        return None
    return Recorder(path, fmt, seal_with=seal_with, **options)


class Recorder:
    def __init__(
        self,
        path: str | Path,
        fmt: str,
        *,
        seal_with: DataKey,
        start_ms: float | None = None,
        latency_ms: float = 1000.0,
    ) -> None:
        if fmt not in ENCODINGS:
            raise ValueError(f"Unknown recording format {fmt!r}; use one of {list(FORMATS)}")
        self.path = Path(path)
        self.format = fmt
        self.start_ms = now_ms() if start_ms is None else start_ms
        self._latency_ms = latency_ms
        self._mixer = Mixer(self.start_ms)
        self._inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._received_until: dict[str, float] = {}  # uuid -> end of its latest frame (epoch ms)
        self._closing = threading.Event()
        self._pauses: list[list[float]] = []  # [start_ms, end_ms]; end is inf while paused
        self._lock = threading.Lock()
        self._end_ms = float("inf")
        self._samples_written = 0
        self._error: BaseException | None = None
        self._closed = False
        self._output = _Output(self.path, ENCODINGS[fmt], seal_with)
        self._thread = threading.Thread(target=self._run, name=f"recorder-{fmt}", daemon=True)
        self._thread.start()

    @property
    def paused(self) -> bool:
        with self._lock:
            return bool(self._pauses) and self._pauses[-1][1] == float("inf")

    def push(self, frame: AudioFrame, *, received: bool = True) -> None:
        """Hand over one frame. Non-blocking; call from any thread. Frames `received` from the
        meeting also tell how far the meeting's audio has arrived (the bot's own voice, stamped
        by its own clock, does not)."""
        if not self._closed:
            self._inbox.put((frame, received))

    def pause(self, at_ms: float | None = None) -> None:
        """Stop recording from `at_ms` (default now) until resume()."""
        with self._lock:
            if not (self._pauses and self._pauses[-1][1] == float("inf")):
                self._pauses.append([now_ms() if at_ms is None else at_ms, float("inf")])

    def resume(self, at_ms: float | None = None) -> None:
        with self._lock:
            if self._pauses and self._pauses[-1][1] == float("inf"):
                self._pauses[-1][1] = now_ms() if at_ms is None else at_ms

    def close(self, end_ms: float | None = None) -> float:
        """Write everything up to `end_ms` (default now), finalise the file, return its seconds.

        Blocking (waits for the encoder thread); from async code use `aclose()`.
        """
        if not self._closed:
            self._closed = True
            self._end_ms = now_ms() if end_ms is None else end_ms
            self._inbox.put(_CLOSE)
            self._closing.set()
        self._thread.join()
        if self._error is not None:
            raise RuntimeError(f"recording to {self.path} failed") from self._error
        return self._samples_written / MEETING_SAMPLE_RATE

    async def aclose(self, end_ms: float | None = None) -> float:
        end_ms = now_ms() if end_ms is None else end_ms
        return await asyncio.to_thread(self.close, end_ms)

    def open_recording(self) -> SealedScratchFile:
        """The finished recording's plaintext, read from the start (after close())."""
        if not self._closed or self._thread.is_alive():
            raise RuntimeError("the recording is still being written; close() it first")
        return self._output.file.reopen()

    # ---- the recorder thread -----------------------------------------------------------

    def _run(self) -> None:
        try:
            while self._mix_pending():
                self._write_until(self.writable_until_ms(now_ms()))
            self._write_until(self._end_ms)
            self._output.finish()
        except BaseException as exc:  # reported by close()
            self._error = exc
            log.exception("recorder failed")
            self._output.abandon()

    def _mix_pending(self) -> bool:
        """Once a tick, move the frames that arrived into the mixer; False once close() was called.

        Waking per tick rather than per frame keeps the thread's wake-ups and encoder calls at
        a few per second whatever the number of participants.
        """
        self._closing.wait(TICK_S)
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return True
            if item is _CLOSE:
                return False
            frame, received = item
            self._mixer.add(frame)
            if received:
                end = frame.timestamp_ms + frame.duration_ms
                self._received_until[frame.uuid] = max(self._received_until.get(frame.uuid, 0), end)

    def writable_until_ms(self, now: float) -> float:
        """Where the recording may be written up to: `latency_ms` behind the clock, and no
        further than every participant still sending has arrived. A participant whose audio
        lags the newest arrival by more than `latency_ms` has stopped sending (or is too late to
        wait for); the newest arrival itself lags the clock when the bot is busy, and then the
        recording waits for it, up to MAX_BACKLOG_MS, instead of writing silence over audio
        that is about to arrive."""
        by_clock = now - self._latency_ms
        arrived = self._received_until.values()
        newest = min(max(arrived, default=now), now)
        oldest_allowed = max(newest - self._latency_ms, now - MAX_BACKLOG_MS)
        sending = [end for end in arrived if end >= oldest_allowed]
        return min(by_clock, max(min(sending, default=oldest_allowed), oldest_allowed))

    def _write_until(self, until_ms: float) -> None:
        chunk_start_ms = self._mixer.position_ms
        samples = self._mixer.take_until(min(until_ms, self._end_ms))
        if len(samples) == 0:
            return
        samples = self._without_pauses(samples, chunk_start_ms)
        if len(samples):
            self._output.write(samples, self._samples_written)
            self._samples_written += len(samples)

    def _without_pauses(self, samples: np.ndarray, chunk_start_ms: float) -> np.ndarray:
        with self._lock:
            pauses = [tuple(p) for p in self._pauses]
        if not pauses:
            return samples
        times_ms = chunk_start_ms + np.arange(len(samples)) * (1000 / MEETING_SAMPLE_RATE)
        keep = np.ones(len(samples), dtype=bool)
        for start_ms, end_ms in pauses:
            keep &= (times_ms < start_ms) | (times_ms >= end_ms)
        return samples[keep]


class _Output:
    """The PyAV container being written (mono 48 kHz, one audio stream) into a sealed file."""

    def __init__(self, path: Path, encoding: Encoding, key: DataKey) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = SealedScratchFile(path, key)
        self._container = av.open(self.file, "w", format=encoding.container)
        self._stream = self._container.add_stream(
            encoding.codec, rate=MEETING_SAMPLE_RATE, layout="mono", options=dict(encoding.options)
        )
        self._stream.bit_rate = encoding.bit_rate

    def write(self, samples: np.ndarray, pts: int) -> None:
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = MEETING_SAMPLE_RATE
        frame.pts = pts
        frame.time_base = Fraction(1, MEETING_SAMPLE_RATE)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def finish(self) -> None:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        self.file.close()

    def abandon(self) -> None:
        try:
            self._container.close()
        except Exception:
            log.warning("could not close the failed recording")
        self.file.close()
