import asyncio
import logging

import pytest

from sitin.transcription import MissingCredentials, build_provider
from sitin.transcription.deepgram import DeepgramTranscriptionProvider
from sitin.transcription.offline import OfflineWhisperProvider
from sitin.transcription.openai import OpenAITranscriptionProvider


@pytest.fixture(autouse=True)
def no_keys_in_environment(monkeypatch):
    monkeypatch.delenv("SITIN_OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("SITIN_DEEPGRAM_API_KEY", raising=False)


def test_offline_is_the_default(tmp_path):
    provider = build_provider({}, {}, whisper_model_dir=tmp_path)
    assert isinstance(provider, OfflineWhisperProvider)
    assert provider.runtime.model_dir == tmp_path
    assert isinstance(build_provider(None, {}), OfflineWhisperProvider)


def test_hosted_providers_take_keys_from_credentials_then_environment(monkeypatch):
    openai = build_provider({"openai": {"model": "whisper-1"}}, {"openai": "sk-from-project"})
    assert isinstance(openai, OpenAITranscriptionProvider)
    assert openai.url == "https://api.openai.com/v1/audio/transcriptions"
    assert openai._client.headers["authorization"] == "Bearer sk-from-project"
    asyncio.run(openai.aclose())

    monkeypatch.setenv("SITIN_DEEPGRAM_API_KEY", "dg-from-env")
    deepgram = build_provider({"deepgram": {"language": "en"}}, {})
    assert isinstance(deepgram, DeepgramTranscriptionProvider)
    assert deepgram._client.headers["authorization"] == "Token dg-from-env"
    assert deepgram.url == "https://api.deepgram.com/v1/listen"
    asyncio.run(deepgram.aclose())


def test_missing_key_is_a_clear_non_retryable_failure(caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MissingCredentials) as caught:
        build_provider({"deepgram": {}}, {"openai": "sk-secret-value"})
    assert "SITIN_DEEPGRAM_API_KEY" in caught.value.reason
    assert not caught.value.retryable
    assert "sk-secret-value" not in caplog.text


def test_invalid_settings_raise_value_error():
    with pytest.raises(ValueError, match="transcription_settings.openai.model is required"):
        build_provider({"openai": {}}, {"openai": "sk"})
