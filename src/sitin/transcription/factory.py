"""Build the provider a bot's `transcription_settings` ask for."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sitin.transcription.base import TranscriptionFailed, TranscriptionProvider
from sitin.transcription.settings import (
    DeepgramSettings,
    OfflineSettings,
    OpenAISettings,
    parse_transcription_settings,
)

API_KEY_ENV = {"openai": "SITIN_OPENAI_API_KEY", "deepgram": "SITIN_DEEPGRAM_API_KEY"}


class MissingCredentials(TranscriptionFailed):
    def __init__(self, provider: str) -> None:
        super().__init__(
            f"no API key for {provider}: add {provider} credentials to the project "
            f"or set {API_KEY_ENV[provider]}",
            retryable=False,
        )


def build_provider(
    transcription_settings: Mapping[str, Any] | None,
    credentials: Mapping[str, str],
    *,
    whisper_model_dir: Path | str | None = None,
) -> TranscriptionProvider:
    """The provider for these settings (validated; ValueError names a bad key).

    `credentials` maps a provider name ("openai", "deepgram") to its API key; a missing key falls
    back to `SITIN_OPENAI_API_KEY` / `SITIN_DEEPGRAM_API_KEY`, then raises MissingCredentials.
    `whisper_model_dir` overrides `SITIN_WHISPER_MODEL_DIR` for the offline engine.
    """
    name, settings = parse_transcription_settings(transcription_settings)
    if isinstance(settings, OpenAISettings):
        from sitin.transcription.openai import OpenAITranscriptionProvider

        return OpenAITranscriptionProvider(
            api_key=_api_key(name, credentials),
            model=settings.model,
            base_url=settings.base_url,
            language=settings.language,
            prompt=settings.prompt,
            response_format=settings.response_format,
        )
    if isinstance(settings, DeepgramSettings):
        from sitin.transcription.deepgram import DeepgramTranscriptionProvider

        return DeepgramTranscriptionProvider(api_key=_api_key(name, credentials), settings=settings)
    assert isinstance(settings, OfflineSettings)
    from sitin.transcription.offline import OfflineWhisperProvider

    return OfflineWhisperProvider(
        model_dir=whisper_model_dir, language=settings.language, prompt=settings.prompt
    )


def _api_key(provider: str, credentials: Mapping[str, str]) -> str:
    key = credentials.get(provider) or os.environ.get(API_KEY_ENV[provider])
    if not key:
        raise MissingCredentials(provider)
    return key
