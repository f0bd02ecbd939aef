"""The frames a bot's pipeline passes between its stages: the only things that travel there.

Every frame is a frozen dataclass. A meeting adapter produces the inbound ones; stages turn frames
into other frames (see ``runtime/pipeline/stage.py`` for the one stage interface):

    audio in     AudioFrame        one participant's received audio (meeting rate, int16 mono)
    speech       SpeechSegment     one stretch of one participant's speech (speech rate, float32)
    text         Utterance         a segment with its transcription, or why that failed
    capture      ParticipantJoined, ParticipantLeft, ChatReceived, SpeechStart, SpeechStop
    control      RecordingPaused, RecordingResumed, EndOfStream
    audio out    AudioOut          audio the bot plays into the meeting (meeting rate, int16 mono)
                 ClearAudioOut     barge-in: drop every AudioOut made before it, at once
                 BotSpoke          20 ms of the bot's voice as it was played (for the recording)

Timestamps are epoch milliseconds on the adapter's clock (the capture time of the first sample).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from sitin.core.audio import MEETING_SAMPLE_RATE
from sitin.transcription.base import SpeechSegment, Transcription, TranscriptionFailed

# --- capture events: what happened in the meeting --------------------------------------------


@dataclass(frozen=True)
class ParticipantJoined:
    uuid: str  # the platform's id for the participant: untrusted, never a path or a key
    name: str
    is_host: bool
    timestamp_ms: int
    user_uuid: str | None = None
    is_bot: bool = False


@dataclass(frozen=True)
class ParticipantLeft:
    uuid: str
    timestamp_ms: int


@dataclass(frozen=True)
class ChatReceived:
    uuid: str  # sender
    text: str
    timestamp_ms: int
    to: Literal["everyone", "only_bot"] = "everyone"


@dataclass(frozen=True)
class SpeechStart:
    uuid: str
    timestamp_ms: int


@dataclass(frozen=True)
class SpeechStop:
    uuid: str
    timestamp_ms: int


CaptureEvent = ParticipantJoined | ParticipantLeft | ChatReceived | SpeechStart | SpeechStop

# --- audio ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class AudioFrame:
    """One chunk of one participant's received audio: meeting rate, mono int16."""

    uuid: str
    pcm: np.ndarray = field(repr=False)
    timestamp_ms: float

    @property
    def duration_ms(self) -> float:
        return len(self.pcm) * 1000 / MEETING_SAMPLE_RATE


@dataclass(frozen=True, eq=False)
class AudioOut:
    """Audio the bot plays into the meeting, in order: meeting rate, mono int16.

    `made_at` (monotonic s) lets a barge-in drop audio made before it that is still on its way.
    """

    pcm: np.ndarray = field(repr=False)
    made_at: float = field(default_factory=time.monotonic)

    @property
    def duration_ms(self) -> float:
        return len(self.pcm) * 1000 / MEETING_SAMPLE_RATE


@dataclass(frozen=True)
class ClearAudioOut:
    """Barge-in: the bot stops talking now; every AudioOut made before `at` is dropped (what the
    meeting adapter has queued, and what is still on its way through the pipeline)."""

    at: float = field(default_factory=time.monotonic)
    reason: str = "barge-in"


@dataclass(frozen=True, eq=False)
class BotSpoke:
    """20 ms of the bot's own voice as it was played into the meeting (meeting rate, mono int16).

    Only the recording keeps it: it is never transcribed nor streamed out as meeting audio.
    """

    pcm: np.ndarray = field(repr=False)
    timestamp_ms: float


# --- text -------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Utterance:
    """A speech segment once transcribed: exactly one of `transcription` and `failure` is set."""

    segment: SpeechSegment
    transcription: Transcription | None
    failure: TranscriptionFailed | None = None


# --- control ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordingPaused:
    """From `at_ms` on, nothing is captured until RecordingResumed (the bot was told to pause)."""

    at_ms: float


@dataclass(frozen=True)
class RecordingResumed:
    at_ms: float


@dataclass(frozen=True)
class EndOfStream:
    """The last frame: each stage finishes its work (flush, drain, close) and passes it on."""


Frame = (
    AudioFrame
    | SpeechSegment
    | Utterance
    | CaptureEvent
    | RecordingPaused
    | RecordingResumed
    | EndOfStream
    | AudioOut
    | ClearAudioOut
    | BotSpoke
)

__all__ = [
    "AudioFrame",
    "AudioOut",
    "BotSpoke",
    "CaptureEvent",
    "ChatReceived",
    "ClearAudioOut",
    "EndOfStream",
    "Frame",
    "ParticipantJoined",
    "ParticipantLeft",
    "RecordingPaused",
    "RecordingResumed",
    "SpeechSegment",
    "SpeechStart",
    "SpeechStop",
    "Utterance",
]
