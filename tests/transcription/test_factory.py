import asyncio
import logging

import numpy as np
import pytest

from sitin.config import Settings
from sitin.core.transcription_settings import ProviderAccount
from sitin.transcription.base import SpeechSegment
from sitin.transcription.deepgram import DeepgramTranscriptionProvider
from sitin.transcription.factory import MissingCredentials, build_provider
from sitin.transcription.offline import OfflineWhisperProvider, shared_model
from sitin.transcription.openai import OpenAITranscriptionProvider
from sitin.transcription.shared import SharedModels
from transcription.fake_asr_servers import FakeServer, deepgram_listen, openai_verbose_json

SEGMENT = SpeechSegment("spk-1", 0, np.zeros(4_000, dtype=np.float32))


def transcribe_once(provider):
    async def run():
        try:
            return await provider.transcribe(SEGMENT)
        finally:
            await provider.aclose()

    return asyncio.run(run())


def test_offline_is_the_default(tmp_path):
    provider = build_provider({}, {}, whisper_model_dir=tmp_path)
    assert isinstance(provider, OfflineWhisperProvider)
    assert provider.runtime.model_dir == tmp_path
    assert isinstance(build_provider(None, {}), OfflineWhisperProvider)


def test_the_bots_of_one_process_share_its_model_and_packer():
    # each bot builds its own provider; given the process's SharedModels (AppContext.models)
    # they decode on one model, in windows one packer fills with all of their segments
    models = SharedModels()
    first, second = (build_provider({}, {}, models=models) for _ in range(2))
    elsewhere = build_provider({}, {})  # another process (or a test) has its own
    for provider in (first, second, elsewhere):
        asyncio.run(provider.warm_up())

    assert shared_model(models, first.runtime) is shared_model(models, second.runtime)
    assert first.packer is second.packer
    assert shared_model(elsewhere.models, elsewhere.runtime) is not shared_model(
        models, first.runtime
    )
    assert elsewhere.packer is not first.packer


def test_hosted_providers_take_accounts_from_the_project_then_the_operator():
    openai = build_provider(
        {"openai": {"model": "whisper-1"}}, {"openai": ProviderAccount("sk-from-project")}
    )
    assert isinstance(openai, OpenAITranscriptionProvider)
    assert openai.url == "https://api.openai.com/v1/audio/transcriptions"
    assert openai._client.headers["authorization"] == "Bearer sk-from-project"
    asyncio.run(openai.aclose())

    operator = Settings(deepgram_api_key="dg-from-operator").provider_accounts
    deepgram = build_provider({"deepgram": {"language": "en"}}, {}, server_accounts=operator)
    assert isinstance(deepgram, DeepgramTranscriptionProvider)
    assert deepgram._client.headers["authorization"] == "Token dg-from-operator"
    assert deepgram.url == "https://api.deepgram.com/v1/listen"
    asyncio.run(deepgram.aclose())

    europe = build_provider({"deepgram": {"use_eu_server": True}}, {}, server_accounts=operator)
    assert europe.url == "https://api.eu.deepgram.com/v1/listen"
    asyncio.run(europe.aclose())


def test_the_projects_endpoint_receives_the_projects_key():
    with FakeServer(openai_verbose_json) as server:
        account = ProviderAccount("sk-self-hosted", base_url=f"{server.url}/v1")
        provider = build_provider({"openai": {"model": "whisper-1"}}, {"openai": account})
        result = transcribe_once(provider)
    (request,) = server.requests
    assert request.path == "/v1/audio/transcriptions"
    assert request.headers["authorization"] == "Bearer sk-self-hosted"
    assert result.transcript == "Heard 4000 samples."


def test_an_operators_deepgram_endpoint_replaces_deepgrams_own_host():
    with FakeServer(deepgram_listen) as server:
        account = ProviderAccount("dg-key", base_url=server.url)
        settings = {"deepgram": {"use_eu_server": True}}
        transcribe_once(build_provider(settings, {"deepgram": account}))
    (request,) = server.requests
    assert (request.path, request.headers["authorization"]) == ("/v1/listen", "Token dg-key")


def test_the_operators_account_has_its_own_endpoint():
    with FakeServer(openai_verbose_json) as server:
        settings = Settings(openai_api_key="sk-env", openai_base_url=f"{server.url}/v1/")
        operator = settings.provider_accounts
        transcribe_once(
            build_provider({"openai": {"model": "whisper-1"}}, {}, server_accounts=operator)
        )

        # a project's key is never sent to the operator's endpoint
        project = {"openai": ProviderAccount("sk-project")}
        provider = build_provider(
            {"openai": {"model": "whisper-1"}}, project, server_accounts=operator
        )
        assert provider.url == "https://api.openai.com/v1/audio/transcriptions"
        asyncio.run(provider.aclose())
    (request,) = server.requests
    assert request.headers["authorization"] == "Bearer sk-env"


def test_missing_key_is_a_clear_non_retryable_failure(caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MissingCredentials) as caught:
        build_provider({"deepgram": {}}, {"openai": ProviderAccount("sk-secret-value")})
    assert "SITIN_DEEPGRAM_API_KEY" in caught.value.reason
    assert not caught.value.retryable
    assert "sk-secret-value" not in caplog.text


def test_invalid_settings_raise_value_error():
    account = {"openai": ProviderAccount("sk")}
    with pytest.raises(ValueError, match="transcription_settings.openai.model is required"):
        build_provider({"openai": {}}, account)
    with pytest.raises(ValueError, match="transcription_settings.openai.base_url is not accepted"):
        build_provider({"openai": {"model": "m", "base_url": "http://127.0.0.1:1/v1"}}, account)


def test_record_only_has_no_provider():
    with pytest.raises(ValueError, match="records only"):
        build_provider({"none": {}}, {})
