"""The one interface every speech-to-text provider implements, and the values it passes.

A pipeline cuts each participant's audio into `SpeechSegment`s; a provider turns one segment into a
`Transcription` or raises `TranscriptionFailed`. Nothing here knows about bots, rooms or the DB.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sitin.core.audio import SPEECH_SAMPLE_RATE

SAMPLE_RATE = SPEECH_SAMPLE_RATE  # every SpeechSegment holds 16 kHz mono float32 samples


@dataclass(frozen=True, eq=False)
class SpeechSegment:
    """One stretch of one participant's speech.

    `start_ms` is the capture time of the first sample (the clock of the room adapter's frames).
    `context` is the same participant's speech just before it (their previous segments, already
    transcribed): a provider that can may decode it with the segment so that the model hears how
    this person speaks and what they just said; its words are never this segment's.
    """

    speaker_uuid: str
    start_ms: int
    samples: np.ndarray = field(repr=False)  # float32, 16 kHz mono, values in [-1, 1]
    context: np.ndarray | None = field(default=None, repr=False)  # same format, or None

    @property
    def duration_ms(self) -> int:
        return round(len(self.samples) * 1000 / SAMPLE_RATE)

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms


@dataclass(frozen=True)
class Transcription:
    """What a provider heard in one segment.

    `words` are dicts with "word", "start", "end" (seconds from the segment start) and
    "confidence" when the provider reports it. `language` is the provider's code or name, if any.
    """

    transcript: str
    words: list[dict[str, Any]] = field(default_factory=list)
    language: str | None = None


class TranscriptionFailed(Exception):
    """A provider could not transcribe a segment.

    `reason` is safe to store and show (the provider's own message, never audio or text content);
    `retryable` says whether the same request may succeed later (rate limits, 5xx, timeouts).
    """

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"TranscriptionFailed({self.reason!r}, retryable={self.retryable})"


class TranscriptionProvider(ABC):
    """Turns speech segments into text. Implementations must never block the event loop."""

    name: str = "provider"
    segments_at_once: int = 1  # how many segments a caller may usefully have in flight at once

    @abstractmethod
    async def transcribe(self, segment: SpeechSegment) -> Transcription:
        """Transcribe one segment, or raise `TranscriptionFailed`."""

    async def warm_up(self) -> None:
        """Get ready for the first segment (load a model, …); raise `TranscriptionFailed` if the
        provider cannot work at all. Nothing to do by default."""
        return None

    async def aclose(self) -> None:
        """Release connections or other resources. Safe to call twice."""
        return None
