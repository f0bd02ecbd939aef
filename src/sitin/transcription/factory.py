"""Build the provider a bot's `transcription_settings` ask for, with the project's account."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sitin.config import API_KEY_ENV
from sitin.core.transcription_settings import (
    OPENAI_DEFAULT_BASE_URL,
    DeepgramSettings,
    OfflineSettings,
    OpenAISettings,
    ProviderAccount,
    RecordOnlySettings,
    parse_transcription_settings,
)
from sitin.transcription.base import TranscriptionFailed, TranscriptionProvider
from sitin.transcription.shared import SharedModels


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
    server_accounts: Mapping[str, ProviderAccount] | None = None,
    whisper_model_dir: Path | str | None = None,
    models: SharedModels | None = None,
) -> TranscriptionProvider:
    """The provider for these settings (validated; ValueError names a bad key).

    `accounts` are the project's hosted-provider accounts by name ("openai", "deepgram"); a
    provider without one uses the operator's `server_accounts` (``Settings.provider_accounts``;
    see `account_for`), else MissingCredentials. Record-only settings (`{"none": {}}`) have no
    provider: ValueError. `whisper_model_dir` (``Settings.whisper_model_dir``) replaces the
    bundled model of the offline engine, which loads it once per ``models`` (the process's).
    """
    name, settings = parse_transcription_settings(transcription_settings)
    if isinstance(settings, OpenAISettings):
        from sitin.transcription.openai import OpenAITranscriptionProvider

        account = account_for(name, accounts, server_accounts or {})
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

        account = account_for(name, accounts, server_accounts or {})
        return DeepgramTranscriptionProvider(
            api_key=account.api_key, settings=settings, base_url=account.base_url
        )
    if isinstance(settings, RecordOnlySettings):
        raise ValueError("transcription_settings.none records only: there is no provider to build")
    assert isinstance(settings, OfflineSettings)
    from sitin.transcription.offline import OfflineWhisperProvider

    return OfflineWhisperProvider(
        model_dir=whisper_model_dir,
        language=settings.language,
        prompt=settings.prompt,
        models=models,
    )


def account_for(
    provider: str,
    accounts: Mapping[str, ProviderAccount],
    server_accounts: Mapping[str, ProviderAccount],
) -> ProviderAccount:
    """The project's account for `provider`, else the operator's, else MissingCredentials.

    A project's account is used whole (its key with its own endpoint or the provider's public
    one): the operator's base URL never receives a project's key, nor the reverse.
    """
    account = accounts.get(provider) or server_accounts.get(provider)
    if account is None:
        raise MissingCredentials(provider)
    return account
