"""Speaking on/off per participant from the audio level: an energy threshold with hangover."""

from __future__ import annotations

import numpy as np

from sitin.runtime.frames import AudioFrame, SpeechStart, SpeechStop

START_DBFS = -40.0  # a frame this loud counts as voice
START_AFTER_MS = 60  # this much loud audio within the current run starts speech
STOP_AFTER_MS = 500  # this much quiet audio ends speech (the hangover)


def level_dbfs(pcm: np.ndarray) -> float:
    """RMS level of int16 samples in dB relative to full scale (-120 for silence)."""
    if len(pcm) == 0:
        return -120.0
    samples = pcm.astype(np.float32)
    rms = float(np.sqrt(np.dot(samples, samples) / len(samples))) / 32768.0
    return 20.0 * np.log10(max(rms, 1e-6))


class SpeakingDetector:
    """Feed one participant's frames in order; get SpeechStart/SpeechStop events back."""

    def __init__(self, uuid: str) -> None:
        self.uuid = uuid
        self.speaking = False
        self._loud_ms = 0.0
        self._quiet_ms = 0.0
        self._run_started_ms = 0.0
        self._last_loud_end_ms = 0.0

    def feed(self, frame: AudioFrame) -> SpeechStart | SpeechStop | None:
        loud = level_dbfs(frame.pcm) >= START_DBFS
        frame_end_ms = frame.timestamp_ms + frame.duration_ms
        if loud:
            if self._loud_ms == 0:
                self._run_started_ms = frame.timestamp_ms
            self._loud_ms += frame.duration_ms
            self._quiet_ms = 0.0
            self._last_loud_end_ms = frame_end_ms
            if not self.speaking and self._loud_ms >= START_AFTER_MS:
                self.speaking = True
                return SpeechStart(self.uuid, int(self._run_started_ms))
            return None
        self._quiet_ms += frame.duration_ms
        if self._quiet_ms >= STOP_AFTER_MS or not self.speaking:
            self._loud_ms = 0.0
        if self.speaking and self._quiet_ms >= STOP_AFTER_MS:
            self.speaking = False
            return SpeechStop(self.uuid, int(self._last_loud_end_ms))
        return None

    def finish(self, at_ms: float) -> SpeechStop | None:
        """End an open speech run when the participant's audio stops (left, track ended)."""
        if not self.speaking:
            return None
        self.speaking = False
        return SpeechStop(self.uuid, int(min(self._last_loud_end_ms, at_ms) or at_ms))
