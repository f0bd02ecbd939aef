"""Turning what the bot is asked to play into meeting audio (48 kHz mono int16) with PyAV:
decoding an uploaded mp3/wav file, and resampling speech or websocket chunks at other rates."""

from __future__ import annotations

import io

import av
import numpy as np

from sitin.core.audio import MEETING_SAMPLE_RATE

MAX_FILE_SECONDS = 15 * 60  # the most a bot may have queued (OutboundAudio.MAX_QUEUED_S)


class UnplayableAudio(Exception):
    """The file is not audio PyAV can decode; the message says why (never the content)."""


class Resampler:
    """Stateful mono int16 resampling (libswresample): consecutive chunks join without clicks."""

    def __init__(self, rate_in: int, rate_out: int = MEETING_SAMPLE_RATE) -> None:
        self.rate_in = rate_in
        self.rate_out = rate_out
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=rate_out)
        self._pts = 0

    def __call__(self, pcm: np.ndarray) -> np.ndarray:
        if self.rate_in == self.rate_out or len(pcm) == 0:
            return pcm.astype(np.int16, copy=False)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = self.rate_in
        frame.pts = self._pts
        self._pts += len(pcm)
        return _joined(self._resampler.resample(frame))

    def flush(self) -> np.ndarray:
        """The samples the resampler still holds (call at the end of an utterance)."""
        if self.rate_in == self.rate_out:
            return np.zeros(0, dtype=np.int16)
        return _joined(self._resampler.resample(None))


def decode_file(container: str, data: bytes) -> np.ndarray:
    """An uploaded mp3 or wav file as meeting audio; UnplayableAudio when it cannot be decoded."""
    try:
        with av.open(io.BytesIO(data), format=container, mode="r") as source:
            if not source.streams.audio:
                raise UnplayableAudio(f"the {container} file has no audio stream")
            stream = source.streams.audio[0]
            resampler = av.AudioResampler(format="s16", layout="mono", rate=MEETING_SAMPLE_RATE)
            parts: list[np.ndarray] = []
            total = 0
            for frame in source.decode(stream):
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().reshape(-1)
                    parts.append(samples)
                    total += len(samples)
                if total > MAX_FILE_SECONDS * MEETING_SAMPLE_RATE:
                    raise UnplayableAudio(f"the file is longer than {MAX_FILE_SECONDS} s")
            parts.append(_joined(resampler.resample(None)))
    except (av.FFmpegError, ValueError, IndexError) as exc:
        raise UnplayableAudio(
            f"the {container} file could not be decoded ({type(exc).__name__})"
        ) from None
    pcm = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
    if len(pcm) == 0:
        raise UnplayableAudio(f"the {container} file holds no audio")
    return pcm


def _joined(frames: list[av.AudioFrame]) -> np.ndarray:
    parts = [f.to_ndarray().reshape(-1) for f in frames]
    return np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, dtype=np.int16)
