"""Build the provider a bot's `transcription_settings` ask for, with the project's account."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sitin.core.transcription_settings import (
    OPENAI_DEFAULT_BASE_URL,
    DeepgramSettings,
    OfflineSettings,
    OpenAISettings,
    ProviderAccount,
    RecordOnlySettings,
    normalise_base_url,
    parse_transcription_settings,
)
from sitin.transcription.base import TranscriptionFailed, TranscriptionProvider

API_KEY_ENV = {"openai": "SITIN_OPENAI_API_KEY", "deepgram": "SITIN_DEEPGRAM_API_KEY"}
BASE_URL_ENV = {"openai": "SITIN_OPENAI_BASE_URL", "deepgram": "SITIN_DEEPGRAM_BASE_URL"}


class MissingCredentials(TranscriptionFailed):
    def __init__(self, provider: str) -> None:
        super().__init__(
            f"no API key for {provider}: add {provider} credentials to the project "
            f"or set {API_KEY_ENV[provider]}",
            retryable=False,
        )


def build_provider(
    transcription_settings: Mapping[str, Any] | None,
    accounts: Mapping[str, ProviderAccount],
    *,
    whisper_model_dir: Path | str | None = None,
) -> TranscriptionProvider:
    """The provider for these settings (validated; ValueError names a bad key).

    `accounts` are the project's hosted-provider accounts by name ("openai", "deepgram"); a
    provider without one uses the environment's (see `account_for`), else MissingCredentials.
    Record-only settings (`{"none": {}}`) have no provider: ValueError.
    `whisper_model_dir` overrides `SITIN_WHISPER_MODEL_DIR` for the offline engine.
    """
    name, settings = parse_transcription_settings(transcription_settings)
    if isinstance(settings, OpenAISettings):
        from sitin.transcription.openai import OpenAITranscriptionProvider

        account = account_for(name, accounts)
        return OpenAITranscriptionProvider(
            api_key=account.api_key,
            model=settings.model,
            base_url=account.base_url or OPENAI_DEFAULT_BASE_URL,
            language=settings.language,
            prompt=settings.prompt,
            response_format=settings.response_format,
        )
    if isinstance(settings, DeepgramSettings):
        from sitin.transcription.deepgram import DeepgramTranscriptionProvider

        account = account_for(name, accounts)
        return DeepgramTranscriptionProvider(
            api_key=account.api_key, settings=settings, base_url=account.base_url
        )
    if isinstance(settings, RecordOnlySettings):
        raise ValueError("transcription_settings.none records only: there is no provider to build")
    assert isinstance(settings, OfflineSettings)
    from sitin.transcription.offline import OfflineWhisperProvider

    return OfflineWhisperProvider(
        model_dir=whisper_model_dir, language=settings.language, prompt=settings.prompt
    )


def account_for(provider: str, accounts: Mapping[str, ProviderAccount]) -> ProviderAccount:
    """The project's account for `provider`, else the environment's, else MissingCredentials.

    A project's account is used whole (its key with its own endpoint or the provider's public
    one): the environment's base URL never receives a project's key, nor the reverse.
    """
    account = accounts.get(provider) or environment_account(provider)
    if account is None:
        raise MissingCredentials(provider)
    return account


def environment_account(provider: str) -> ProviderAccount | None:
    """`SITIN_<PROVIDER>_API_KEY` with optional `SITIN_<PROVIDER>_BASE_URL`, if a key is set."""
    api_key = os.environ.get(API_KEY_ENV[provider], "").strip()
    if not api_key:
        return None
    base_url = os.environ.get(BASE_URL_ENV[provider], "").strip()
    if not base_url:
        return ProviderAccount(api_key=api_key)
    try:
        return ProviderAccount(
            api_key=api_key, base_url=normalise_base_url(base_url, name=BASE_URL_ENV[provider])
        )
    except ValueError as exc:
        raise TranscriptionFailed(str(exc), retryable=False) from None
