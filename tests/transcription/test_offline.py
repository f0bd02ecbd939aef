import asyncio

import pytest

from sitin.transcription.base import SpeechSegment, TranscriptionFailed
from sitin.transcription.offline import OfflineWhisperProvider
from transcription.speech_audio import SENTENCES, requires_flite, speech_16k, word_error_rate

pytestmark = requires_flite


def test_word_error_rate_helper_counts_edits():
    assert word_error_rate("The cat sat.", "the cat sat") == 0
    assert word_error_rate("the cat sat", "the dog sat down") == pytest.approx(2 / 3)


def test_offline_engine_transcribes_flite_sentences_accurately():
    provider = OfflineWhisperProvider()

    async def transcribe_all():
        return [
            await provider.transcribe(SpeechSegment("spk", 0, speech_16k(text)))
            for text in SENTENCES
        ]

    results = asyncio.run(transcribe_all())
    references = " ".join(SENTENCES)
    hypotheses = " ".join(result.transcript for result in results)
    assert word_error_rate(references, hypotheses) <= 0.15
    for text, result in zip(SENTENCES, results, strict=True):
        assert result.language == "en"
        duration = len(speech_16k(text)) / 16_000
        starts = [word["start"] for word in result.words]
        assert starts == sorted(starts)
        assert all(0 <= w["start"] <= w["end"] <= duration + 0.5 for w in result.words)
        assert all(0 <= w["confidence"] <= 1 for w in result.words)
        assert word_error_rate(text, " ".join(w["word"] for w in result.words)) <= 0.3


def test_model_dir_from_environment_is_used(monkeypatch, tmp_path):
    monkeypatch.setenv("SITIN_WHISPER_MODEL_DIR", str(tmp_path))
    provider = OfflineWhisperProvider()
    with pytest.raises(TranscriptionFailed) as caught:
        asyncio.run(provider.transcribe(SpeechSegment("spk", 0, speech_16k("Hello there."))))
    assert str(tmp_path) in caught.value.reason
    assert not caught.value.retryable
