"""Mix every participant's audio into one mono 48 kHz track, placing frames by their timestamps."""

from __future__ import annotations

import numpy as np

from sitin.core.audio import MEETING_SAMPLE_RATE
from sitin.runtime.frames import AudioFrame

SNAP_SAMPLES = 960  # frames within 20 ms of where the previous one ended continue it seamlessly
# a frame stamped further ahead than this is bogus
MAX_AHEAD_SAMPLES = 10 * 60 * MEETING_SAMPLE_RATE


class Mixer:
    """Sums frames on a timeline that starts at `start_ms` (epoch ms).

    `add()` frames in any order between participants; `take_until()` hands out the mixed audio
    before a point in time, after which frames for that span are too late and are dropped.
    """

    def __init__(self, start_ms: float) -> None:
        self.start_ms = start_ms
        self.taken = 0  # samples handed out so far: the timeline position of buffer[0]
        self.late_samples = 0  # samples dropped because they arrived after their span was taken
        self._buffer = np.zeros(MEETING_SAMPLE_RATE, dtype=np.float32)
        self._filled = 0  # samples of _buffer that hold audio (the rest is spare capacity)
        self._next_by_uuid: dict[str, int] = {}

    @property
    def position_ms(self) -> float:
        return self.start_ms + self.taken * 1000 / MEETING_SAMPLE_RATE

    def add(self, frame: AudioFrame) -> None:
        at = self._place(frame)
        samples = frame.pcm
        if at < self.taken:
            cut = min(self.taken - at, len(samples))
            self.late_samples += cut
            samples, at = samples[cut:], at + cut
        offset = at - self.taken
        if len(samples) == 0 or offset > MAX_AHEAD_SAMPLES:
            return
        end = offset + len(samples)
        self._reserve(end)
        self._buffer[offset:end] += samples
        self._filled = max(self._filled, end)

    def take_until(self, until_ms: float) -> np.ndarray:
        """The mixed audio from the current position up to `until_ms`, as int16."""
        count = self._sample_index(until_ms) - self.taken
        if count <= 0:
            return np.zeros(0, dtype=np.int16)
        self._reserve(count)
        mixed = np.clip(self._buffer[:count], -32768, 32767).astype(np.int16)
        remaining = max(self._filled - count, 0)
        self._buffer[:remaining] = self._buffer[count : count + remaining]
        self._buffer[remaining : max(self._filled, count)] = 0
        self._filled = remaining
        self.taken += count
        return mixed

    def _place(self, frame: AudioFrame) -> int:
        """Where the frame starts, snapped onto its participant's previous frame when close."""
        at = self._sample_index(frame.timestamp_ms)
        expected = self._next_by_uuid.get(frame.uuid)
        if expected is not None and abs(at - expected) <= SNAP_SAMPLES:
            at = expected
        self._next_by_uuid[frame.uuid] = at + len(frame.pcm)
        return at

    def _sample_index(self, timestamp_ms: float) -> int:
        return round((timestamp_ms - self.start_ms) * MEETING_SAMPLE_RATE / 1000)

    def _reserve(self, size: int) -> None:
        if size > len(self._buffer):
            grown = np.zeros(max(size, 2 * len(self._buffer)), dtype=np.float32)
            grown[: self._filled] = self._buffer[: self._filled]
            self._buffer = grown
