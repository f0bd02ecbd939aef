"""Each participant's whole audio track, kept for the post-meeting accuracy pass.

A track is the participant's received audio at 16 kHz int16 (what the model is fed), written as
it arrives to a sealed scratch file under the bot's data key: no plaintext audio is ever on disk,
and once delete_data destroys the key the file is unreadable even before it is removed. The file
holds only audio; `Span`s place it on the meeting's clock. A hole in the audio of up to
GAP_FILL_MAX_MS (packet loss, jitter) is filled with silence, a longer one (the participant
muted, the recording paused) starts a new span, so that no track grows with silence nobody sent.

`feed` is blocking (resampling and sealing, tens of microseconds per 20 ms frame): the pipeline
stage calls it from a thread, in batches. Disk: 32 kB per second of each participant's audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sitin.core.audio import MEETING_SAMPLE_RATE
from sitin.encryption import DataKey
from sitin.encryption.scratch import SealedScratchFile
from sitin.runtime.frames import ParticipantJoined
from sitin.runtime.pipeline.speech import Downsampler
from sitin.transcription.base import SAMPLE_RATE

GAP_TOLERANCE_MS = 60  # timestamp jitter ignored (as the segmenter does)
GAP_FILL_MAX_MS = 2_000  # a longer hole starts a new span
SAMPLE_BYTES = 2  # int16


@dataclass
class Span:
    """A stretch of a track without a long hole: its first sample's capture time (epoch ms),
    where it starts in the track file (samples) and how many samples it has."""

    start_ms: float
    offset: int
    length: int = 0

    @property
    def seconds(self) -> float:
        return self.length / SAMPLE_RATE


class ParticipantTrack:
    def __init__(self, path: Path, key: DataKey, person: ParticipantJoined, input_rate: int):
        self.person = person
        self.spans: list[Span] = []
        self._file = SealedScratchFile(path, key)
        self._input_rate = input_rate
        self._downsample = Downsampler(input_rate)
        self._end_ms = 0.0  # capture time just after the last sample written
        self._samples = 0

    @property
    def seconds(self) -> float:
        return self._samples / SAMPLE_RATE

    def append(self, pcm: np.ndarray, timestamp_ms: float) -> None:
        gap_ms = timestamp_ms - self._end_ms
        if not self.spans or gap_ms > GAP_FILL_MAX_MS:
            self.spans.append(Span(timestamp_ms, self._samples))
            self._downsample = Downsampler(self._input_rate)
            self._end_ms = timestamp_ms
        elif gap_ms > GAP_TOLERANCE_MS:
            self._write(np.zeros(round(gap_ms * SAMPLE_RATE / 1000), dtype=np.int16))
            self._end_ms = timestamp_ms
        audio = np.asarray(pcm).reshape(-1).astype(np.float32) / 32768.0
        samples = self._downsample(audio)
        self._write((np.clip(samples, -1, 1) * 32767).astype(np.int16))
        self._end_ms += len(pcm) * 1000 / self._input_rate

    def _write(self, samples: np.ndarray) -> None:
        self._file.write(samples.tobytes())
        self.spans[-1].length += len(samples)
        self._samples += len(samples)

    def close(self) -> None:
        self._file.close()

    def read(self, span: Span, start: int = 0, length: int | None = None) -> np.ndarray:
        """A span's audio from its sample `start` (all of it, or `length` samples), float32
        16 kHz (after close())."""
        length = span.length - start if length is None else min(length, span.length - start)
        with self._file.reopen() as handle:
            handle.seek((span.offset + start) * SAMPLE_BYTES)
            data = handle.read(max(0, length) * SAMPLE_BYTES)
        return np.frombuffer(data, dtype=np.int16).astype(np.float32) / 32768.0

    def discard(self) -> None:
        self._file.discard()


class ParticipantTracks:
    """Every participant's track in one folder; files are named by arrival order, never by the
    uuid the meeting reported (untrusted)."""

    def __init__(
        self, directory: Path, key: DataKey, *, input_rate: int = MEETING_SAMPLE_RATE
    ) -> None:
        self.directory = Path(directory)
        self._key = key
        self._input_rate = input_rate
        self._people: dict[str, ParticipantJoined] = {}
        self._tracks: dict[str, ParticipantTrack] = {}
        self.closed = False

    def joined(self, person: ParticipantJoined) -> None:
        self._people.setdefault(person.uuid, person)

    def feed(self, uuid: str, pcm: np.ndarray, timestamp_ms: float) -> None:
        """Append one frame of a participant's audio (blocking). Audio of someone who never
        joined (the meeting told us nothing about them) is not kept: no utterance could name
        them."""
        if self.closed:
            return
        track = self._tracks.get(uuid)
        if track is None:
            person = self._people.get(uuid)
            if person is None:
                return
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"track-{len(self._tracks):04d}.pcm"
            track = self._tracks[uuid] = ParticipantTrack(path, self._key, person, self._input_rate)
        track.append(pcm, timestamp_ms)

    def close(self) -> list[ParticipantTrack]:
        """Finish every file; the tracks, in the order the participants were first heard."""
        if not self.closed:
            self.closed = True
            for track in self._tracks.values():
                track.close()
        return list(self._tracks.values())

    def discard(self) -> None:
        """Remove every file (after the pass, or when it is abandoned)."""
        self.close()
        for track in self._tracks.values():
            track.discard()
        self._tracks.clear()
