import asyncio

import numpy as np
import pytest

from sitin.core.transcription_settings import parse_transcription_settings
from sitin.transcription.base import SpeechSegment, TranscriptionFailed
from sitin.transcription.deepgram import DeepgramTranscriptionProvider
from transcription.fake_asr_servers import FakeServer, Reply, deepgram_listen

SEGMENT = SpeechSegment("spk-1", 1_000, np.linspace(-0.5, 0.5, 8_000, dtype=np.float32))


def transcribe(server, deepgram_settings: dict, timeout: float = 10.0):
    _, settings = parse_transcription_settings({"deepgram": deepgram_settings})

    async def run():
        provider = DeepgramTranscriptionProvider(
            api_key="dg-key", settings=settings, base_url=server.url, timeout=timeout
        )
        try:
            return await provider.transcribe(SEGMENT)
        finally:
            await provider.aclose()

    return asyncio.run(run())


def test_sends_documented_request_and_parses_results():
    with FakeServer(deepgram_listen) as server:
        result = transcribe(server, {"model": "nova-3", "language": "en", "keyterms": ["Sitin"]})

    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/v1/listen")
    assert request.headers["authorization"] == "Token dg-key"
    assert request.headers["content-type"] == "audio/wav"
    assert request.query == [
        ("model", "nova-3"),
        ("punctuate", "true"),
        ("smart_format", "true"),
        ("language", "en"),
        ("keyterm", "Sitin"),
    ]
    assert request.audio_samples() == 8_000
    assert result.transcript == "heard 8000 samples"
    assert result.words[0] == {"word": "Heard", "start": 0.08, "end": 0.4, "confidence": 0.99}
    assert result.language == "en"


def test_defaults_and_language_detection_query():
    with FakeServer(deepgram_listen) as server:
        transcribe(server, {})
        transcribe(server, {"detect_language": True, "smart_format": False, "redact": ["pii"]})

    first, second = (dict(request.query) for request in server.requests)
    assert first["model"] == "nova-3" and first["language"] == "multi"
    assert second["detect_language"] == "true" and "language" not in second
    assert second["smart_format"] == "false" and second["redact"] == "pii"


@pytest.mark.parametrize(
    ("status", "body", "message", "retryable"),
    [
        (
            401,
            {"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials."},
            "INVALID_AUTH: Invalid credentials.",
            False,
        ),
        (
            400,
            {"err_code": "Bad Request", "err_msg": "Bad Request: failed to process audio"},
            "failed to process audio",
            False,
        ),
        (
            429,
            {"err_code": "TOO_MANY_REQUESTS", "err_msg": "Too many requests."},
            "Too many requests.",
            True,
        ),
        (
            500,
            {"category": "INTERNAL_SERVER_ERROR", "message": "Something broke."},
            "INTERNAL_SERVER_ERROR: Something broke.",
            True,
        ),
    ],
)
def test_error_answers_become_failures_with_the_providers_message(status, body, message, retryable):
    with (
        FakeServer(lambda r: Reply(status, body)) as server,
        pytest.raises(TranscriptionFailed) as caught,
    ):
        transcribe(server, {})
    assert message in caught.value.reason
    assert caught.value.retryable is retryable


def test_answer_without_results_is_a_failure():
    with (
        FakeServer(lambda r: Reply(200, {"metadata": {}})) as server,
        pytest.raises(TranscriptionFailed) as caught,
    ):
        transcribe(server, {})
    assert "results.channels[0]" in caught.value.reason
    assert not caught.value.retryable


def test_timeout_is_a_retryable_failure():
    with (
        FakeServer(lambda r: Reply(body={}, delay_s=1.0)) as server,
        pytest.raises(TranscriptionFailed) as caught,
    ):
        transcribe(server, {}, timeout=0.2)
    assert "deepgram did not answer in time" in caught.value.reason
    assert caught.value.retryable
