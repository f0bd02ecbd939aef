"""Speech-to-text providers behind one interface (see base.py); build one with factory.py."""

from sitin.transcription.base import (
    SAMPLE_RATE,
    SpeechSegment,
    Transcription,
    TranscriptionFailed,
    TranscriptionProvider,
)
from sitin.transcription.factory import MissingCredentials, build_provider
from sitin.transcription.settings import chosen_provider, validate_transcription_settings

__all__ = [
    "SAMPLE_RATE",
    "MissingCredentials",
    "SpeechSegment",
    "Transcription",
    "TranscriptionFailed",
    "TranscriptionProvider",
    "build_provider",
    "chosen_provider",
    "validate_transcription_settings",
]
