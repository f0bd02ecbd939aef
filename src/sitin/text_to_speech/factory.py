"""Build the engine a speech request's (normalised) settings ask for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sitin.core.speech_settings import OpenAISpeech, parse
from sitin.core.transcription_settings import OPENAI_DEFAULT_BASE_URL, ProviderAccount
from sitin.text_to_speech.base import SpeechEngine, SpeechFailed
from sitin.text_to_speech.pico import PicoProcess, PicoSpeechEngine
from sitin.transcription.base import TranscriptionFailed
from sitin.transcription.factory import account_for


def build_engine(
    settings: Mapping[str, Any],
    accounts: Mapping[str, ProviderAccount],
    *,
    offline_process: PicoProcess,
) -> SpeechEngine:
    """The engine for stored settings; SpeechFailed when its account is missing.

    Offline engines run in `offline_process` (one per bot, started on first use).
    The openai engine uses the project's `openai` account (as transcription does), else the
    server's SITIN_OPENAI_API_KEY / SITIN_OPENAI_BASE_URL.
    """
    parsed = parse(dict(settings))
    if isinstance(parsed, OpenAISpeech):
        from sitin.text_to_speech.openai import OpenAISpeechEngine

        try:
            account = account_for("openai", accounts)
        except TranscriptionFailed as exc:
            raise SpeechFailed(exc.reason) from None
        return OpenAISpeechEngine(
            api_key=account.api_key,
            settings=parsed,
            base_url=account.base_url or OPENAI_DEFAULT_BASE_URL,
        )
    return PicoSpeechEngine(offline_process, parsed)
