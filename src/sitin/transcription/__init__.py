"""Speech-to-text providers behind one interface (see base.py); build one with factory.py."""

from sitin.core.transcription_settings import (
    ProviderAccount,
    chosen_provider,
    validate_transcription_settings,
)
from sitin.transcription.base import (
    SAMPLE_RATE,
    SpeechSegment,
    Transcription,
    TranscriptionFailed,
    TranscriptionProvider,
)
from sitin.transcription.factory import MissingCredentials, build_provider

__all__ = [
    "SAMPLE_RATE",
    "MissingCredentials",
    "ProviderAccount",
    "SpeechSegment",
    "Transcription",
    "TranscriptionFailed",
    "TranscriptionProvider",
    "build_provider",
    "chosen_provider",
    "validate_transcription_settings",
]
