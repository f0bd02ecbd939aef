import asyncio

import numpy as np
import pytest

from sitin.transcription.base import SpeechSegment, TranscriptionFailed
from sitin.transcription.openai import OpenAITranscriptionProvider
from transcription.fake_asr_servers import FakeServer, Reply, openai_verbose_json

SEGMENT = SpeechSegment("spk-1", 1_000, np.linspace(-0.5, 0.5, 16_000, dtype=np.float32))


def transcribe(server: FakeServer, **options):
    async def run():
        provider = OpenAITranscriptionProvider(
            api_key="sk-test", base_url=f"{server.url}/v1", **{"model": "whisper-1", **options}
        )
        try:
            return await provider.transcribe(SEGMENT)
        finally:
            await provider.aclose()

    return asyncio.run(run())


def test_sends_documented_multipart_request_and_parses_words():
    with FakeServer(openai_verbose_json) as server:
        result = transcribe(server, language="en", prompt="Sitin, Attendee")

    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == "/v1/audio/transcriptions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.form == {
        "model": ["whisper-1"],
        "response_format": ["verbose_json"],
        "timestamp_granularities[]": ["word"],
        "language": ["en"],
        "prompt": ["Sitin, Attendee"],
    }
    filename, content_type, _ = request.files["file"]
    assert (filename, content_type) == ("segment.wav", "audio/wav")
    assert request.audio_samples() == 16_000
    assert result.transcript == "Heard 16000 samples."
    assert result.words[1] == {"word": "16000", "start": 0.4, "end": 0.9}
    assert result.language == "english"


def test_gpt_4o_models_ask_for_plain_json():
    def plain_json(request):
        return Reply(body={"text": "Hello there."})

    with FakeServer(plain_json) as server:
        result = transcribe(server, model="gpt-4o-transcribe")

    (request,) = server.requests
    assert request.form["response_format"] == ["json"]
    assert "timestamp_granularities[]" not in request.form
    assert (result.transcript, result.words, result.language) == ("Hello there.", [], None)


@pytest.mark.parametrize(
    ("status", "retryable"), [(401, False), (400, False), (429, True), (500, True), (503, True)]
)
def test_error_answers_become_failures_with_the_providers_message(status, retryable):
    message = f"Something is wrong ({status})"

    def error(request):
        return Reply(status, {"error": {"message": message, "type": "invalid_request_error"}})

    with FakeServer(error) as server, pytest.raises(TranscriptionFailed) as caught:
        transcribe(server)
    assert message in caught.value.reason
    assert str(status) in caught.value.reason
    assert caught.value.retryable is retryable


def test_non_json_error_body_is_reported():
    with (
        FakeServer(lambda r: Reply(502, b"Bad gateway from proxy")) as server,
        pytest.raises(TranscriptionFailed) as caught,
    ):
        transcribe(server)
    assert "Bad gateway from proxy" in caught.value.reason
    assert caught.value.retryable


def test_timeout_is_a_retryable_failure():
    with (
        FakeServer(lambda r: Reply(body={"text": "late"}, delay_s=1.0)) as server,
        pytest.raises(TranscriptionFailed) as caught,
    ):
        transcribe(server, timeout=0.2)
    assert "did not answer in time" in caught.value.reason
    assert caught.value.retryable


def test_unreachable_server_is_a_retryable_failure():
    with FakeServer(openai_verbose_json) as server:
        url = server.url
    provider_server = type("Gone", (), {"url": url})()
    with pytest.raises(TranscriptionFailed) as caught:
        transcribe(provider_server)
    assert "could not reach openai" in caught.value.reason
    assert caught.value.retryable
