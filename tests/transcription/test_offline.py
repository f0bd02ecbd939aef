import asyncio
import os
import wave
from pathlib import Path

import numpy as np
import pytest

from sitin.config import Settings
from sitin.transcription.base import SpeechSegment, TranscriptionFailed
from sitin.transcription.factory import build_provider
from sitin.transcription.offline import OfflineWhisperProvider
from transcription.speech_audio import (
    SENTENCES,
    normalise,
    repeated_phrases,
    requires_flite,
    speech_16k,
    word_error_rate,
)

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


def test_the_configured_model_dir_is_used(tmp_path):
    settings = Settings(whisper_model_dir=tmp_path)
    provider = build_provider({}, {}, whisper_model_dir=settings.whisper_model_dir)
    with pytest.raises(TranscriptionFailed) as caught:
        asyncio.run(provider.transcribe(SpeechSegment("spk", 0, speech_16k("Hello there."))))
    assert str(tmp_path) in caught.value.reason
    assert not caught.value.retryable


def test_a_segment_that_made_the_decoder_say_the_sentence_twice():
    """Recorded from the browser test under load (Chromium → WebRTC → bot). With an encoder window
    cut to the audio, tiny.en ran on past the speech: "…to the afternoon. We should move the week
    leading to the afternoon." on one CPU, "…to the afternoon, the week leading to the afternoon,
    we should move the week leading to" on another, a run of full stops on a third."""
    with wave.open(str(FIXTURES / "browser-bob-repeats.wav"), "rb") as recorded:
        assert recorded.getframerate() == 16_000
        pcm = np.frombuffer(recorded.readframes(recorded.getnframes()), dtype=np.int16)
    segment = SpeechSegment("bob", 0, pcm.astype(np.float32) / 32768)
    result = asyncio.run(OfflineWhisperProvider().transcribe(segment))
    said = "we should move the weekly meeting to the afternoon"
    heard = normalise(result.transcript)
    assert repeated_phrases(heard) == [], result.transcript
    assert {"move", "weekly", "meeting", "afternoon"} <= set(heard), result.transcript
    assert len(heard) <= len(said.split()) + 2, result.transcript  # nothing run on after it
    assert word_error_rate(said, result.transcript) <= 0.25, result.transcript
    assert all(w["end"] <= len(pcm) / 16_000 + 0.1 for w in result.words), result.words


def test_repeated_phrases_finds_a_phrase_said_twice():
    assert repeated_phrases(["we", "meet", "at", "noon", "then", "we", "meet", "at", "noon"]) == [
        ("we", "meet", "at"),
        ("meet", "at", "noon"),
    ]
    assert repeated_phrases(["the", "cat", "and", "the", "dog", "and", "the", "bird"]) == []


def test_the_engine_decodes_one_window_per_core_the_process_may_run_on():
    """A worker held to fewer cores (taskset, a container's cpuset) runs as many decodes at once
    as it has cores, not as many as the machine has."""
    cores = os.sched_getaffinity(0)
    assert OfflineWhisperProvider().runtime.num_workers == len(cores)
    os.sched_setaffinity(0, {min(cores)})  # this thread only: Linux affinity is per thread
    try:
        assert OfflineWhisperProvider().runtime.num_workers == 1
    finally:
        os.sched_setaffinity(0, cores)
