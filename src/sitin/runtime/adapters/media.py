"""Remote audio tracks -> meeting events, the same for every WebRTC adapter: each participant's
audio as meeting-rate mono int16 frames stamped in epoch milliseconds, and speaking on/off."""

from __future__ import annotations

import time
from collections.abc import Callable

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from sitin.core.audio import MEETING_SAMPLE_RATE
from sitin.runtime.adapters.base import EventSink
from sitin.runtime.adapters.speaking import SpeakingDetector
from sitin.runtime.frames import AudioFrame

RTP_WRAP = 2**32
RESYNC_MS = 500.0  # re-anchor a track's clock when RTP time and arrival time drift this far apart
LATE_PERSIST_MS = 1000.0  # ... and, for frames arriving late, when a steady delay lasts this long
STEADY_MS = 100.0  # a delay changing less than this is steady (a clock), more is a backlog
LATE_LIMIT_MS = 5000.0  # ... or they are this late (later than any recorder could still place)


def now_ms() -> float:
    return time.time() * 1000


async def consume_audio(uuid: str, track: MediaStreamTrack, emit: EventSink) -> None:
    """Read `track` until it ends, emitting AudioFrame, SpeechStart and SpeechStop for `uuid`."""
    detector = SpeakingDetector(uuid)
    clock = TrackClock()
    to_mono = MonoConverter()
    try:
        while True:
            frame = await track.recv()
            pcm = to_mono(frame)
            audio = AudioFrame(uuid, pcm, clock.stamp(frame.pts, len(pcm)))
            emit(audio)
            speech = detector.feed(audio)
            if speech is not None:
                emit(speech)
    except MediaStreamError:
        pass
    finally:
        stop = detector.finish(now_ms())
        if stop is not None:
            emit(stop)


class TrackClock:
    """Epoch-ms capture times for one track: RTP time, anchored at the first frame's arrival.

    RTP time keeps frames evenly spaced despite network jitter. Frames stamped ahead of their
    arrival by more than RESYNC_MS (a sender restart, a jump in RTP time) re-anchor at once.
    Frames arriving late keep their RTP time while the delay keeps changing: that is a backlog
    (a stalled network path, or a process too busy to keep up, which delivers the frames late
    and then in a burst), and re-anchoring on it would cut a hole into the track and then
    overlap it. Only a delay beyond RESYNC_MS that holds steady, within STEADY_MS, for
    LATE_PERSIST_MS (the sender's clock runs slow, or it paused without advancing RTP time) —
    or a delay beyond LATE_LIMIT_MS — re-anchors.
    """

    def __init__(self, now: Callable[[], float] = now_ms) -> None:
        self._now = now
        self._anchor_ms = 0.0
        self._anchor_pts: int | None = None
        self._late_since_ms: float | None = None  # arrival time when the delay became steady
        self._steady_late_ms = 0.0  # ... and the delay then

    def stamp(self, pts: int | None, samples: int) -> float:
        arrival_ms = self._now() - samples * 1000 / MEETING_SAMPLE_RATE
        if pts is None:
            return arrival_ms
        if self._anchor_pts is not None:
            stamped = (
                self._anchor_ms + ((pts - self._anchor_pts) % RTP_WRAP) * 1000 / MEETING_SAMPLE_RATE
            )
            late_ms = arrival_ms - stamped
            if late_ms <= RESYNC_MS:
                self._late_since_ms = None
                if late_ms >= -RESYNC_MS:
                    return stamped
            elif late_ms <= LATE_LIMIT_MS:
                if self._late_since_ms is None or abs(late_ms - self._steady_late_ms) > STEADY_MS:
                    self._late_since_ms, self._steady_late_ms = arrival_ms, late_ms
                if arrival_ms - self._late_since_ms < LATE_PERSIST_MS:
                    return stamped
        self._anchor_ms, self._anchor_pts = arrival_ms, pts
        self._late_since_ms = None
        return arrival_ms


class MonoConverter:
    """PyAV audio frame -> 48 kHz mono int16 samples.

    Opus arrives as s16 mono from the loop decoder (loop_decoding.py), s16 stereo where aiortc
    decodes it, and another codec (G.711) in its own format and rate.
    """

    def __init__(self) -> None:
        self._resampler: av.AudioResampler | None = None

    def __call__(self, frame: av.AudioFrame) -> np.ndarray:
        if frame.format.name == "s16" and frame.sample_rate == MEETING_SAMPLE_RATE:
            channels = len(frame.layout.channels)
            # interleaved samples read in place: this runs for every 20 ms of every participant
            samples = np.frombuffer(frame.planes[0], np.int16, frame.samples * channels)
            if channels == 1:
                return samples.copy()
            if channels == 2:
                return ((samples[0::2].astype(np.int32) + samples[1::2]) >> 1).astype(np.int16)
            mixed = samples.reshape(-1, channels).astype(np.int32).sum(axis=1) // channels
            return mixed.astype(np.int16)
        if self._resampler is None:
            self._resampler = av.AudioResampler(
                format="s16", layout="mono", rate=MEETING_SAMPLE_RATE
            )
        parts = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)
