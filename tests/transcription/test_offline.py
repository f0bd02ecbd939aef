import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.transcribe import Word

from sitin.transcription.base import SpeechSegment, TranscriptionFailed
from sitin.transcription.offline import OfflineWhisperProvider, spoken_words
from transcription.speech_audio import SENTENCES, requires_flite, speech_16k, word_error_rate

pytestmark = requires_flite
FIXTURES = Path(__file__).parent / "fixtures"


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


def _word(text: str, start: float, end: float) -> Word:
    return Word(start=start, end=end, word=f" {text}", probability=0.9)


def test_words_stacked_at_one_instant_at_the_end_were_not_said():
    said = [_word("move", 0.4, 0.66), _word("afternoon.", 1.86, 2.16)]
    stacked = [_word("We", 2.16, 2.16), _word("should", 2.16, 2.16), _word("move", 2.16, 2.16)]
    assert spoken_words(said + stacked, audio_end_s=2.47) == said
    # one zero-length word can be a real short word; a zero-length word inside stays too
    short = [_word("I", 0.0, 0.0), _word("agree", 0.0, 0.3), _word("a", 0.5, 0.5)]
    assert spoken_words(short, audio_end_s=1.0) == short
    # a short utterance aligned all at one instant is kept rather than lost
    brief = [_word("Thank", 0.3, 0.3), _word("you.", 0.3, 0.3)]
    assert spoken_words(brief, audio_end_s=0.6) == brief
    # words placed after the end of the audio were not said either
    late = [_word("yes", 0.1, 0.4), _word("yes", 1.2, 1.4)]
    assert spoken_words(late, audio_end_s=1.0) == late[:1]


def test_a_segment_that_made_the_decoder_say_the_sentence_twice():
    """Recorded from the browser test under load (Chromium → WebRTC → bot): tiny.en answered
    "…to the afternoon. We should move the week leading to the afternoon." for it."""
    with wave.open(str(FIXTURES / "browser-bob-repeats.wav"), "rb") as recorded:
        assert recorded.getframerate() == 16_000
        pcm = np.frombuffer(recorded.readframes(recorded.getnframes()), dtype=np.int16)
    segment = SpeechSegment("bob", 0, pcm.astype(np.float32) / 32768)
    result = asyncio.run(OfflineWhisperProvider().transcribe(segment))
    assert (
        word_error_rate("we should move the weekly meeting to the afternoon", result.transcript)
        <= 0.15
    ), result.transcript
