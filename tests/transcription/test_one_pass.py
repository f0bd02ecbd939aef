"""A packed window decoded with one encoder pass: faster-whisper's own loop, stopped before it
encodes the window a second time."""

import math

import numpy as np

from sitin.transcription.offline import OfflineWhisperProvider, shared_model
from sitin.transcription.one_pass import decode_once
from transcription.real_speech import CARDS, GO_FORWARD, KENNEDY, READER
from transcription.test_packing import CountingModel

RATE = 16_000
KWARGS = {
    "language": "en",
    "beam_size": 1,
    "word_timestamps": True,
    "condition_on_previous_text": False,
    "vad_filter": False,
    "compression_ratio_threshold": None,
}


def speech_to_the_end(seconds: float) -> np.ndarray:
    """Real turns one after another, a second apart, the last one ending the audio: the decoder
    has no silence after it in which to close the last phrase."""
    pieces: list[np.ndarray] = []
    for recording in [*READER, *CARDS, *KENNEDY, *GO_FORWARD]:
        if sum(map(len, pieces)) + len(recording.samples) > seconds * RATE:
            break
        pieces += [np.array(recording.samples), np.zeros(RATE, np.float32)]
    return np.concatenate(pieces[:-1])


def test_one_pass_gives_what_the_model_loop_says_up_to_where_it_stopped():
    provider = OfflineWhisperProvider(cpu_threads=1, num_workers=1)
    model = shared_model(provider.models, provider.runtime)
    audio = speech_to_the_end(30)
    counting = model.model = CountingModel(model.model)
    once = decode_once(model, audio, **KWARGS)
    assert counting.encode_calls == 1
    looped, _ = model.transcribe(audio, **KWARGS)
    looped = list(looped)
    assert once.covered == math.inf or 0 < once.covered < len(audio) / RATE
    # the same phrases, word for word, up to where the one pass stopped (the same model on the
    # same machine and the same encoder output: the loop's first window is this one pass)
    up_to = [p for p in looped if p.end <= once.covered]
    assert [p.text for p in once.phrases] == [p.text for p in up_to]
    assert [w.word for p in once.phrases for w in p.words] == [
        w.word for p in up_to for w in p.words
    ]
    if once.covered < math.inf:  # what was left out: the loop found words after it
        assert any(p.start >= once.covered - 0.5 for p in looped)


def test_a_window_the_decoder_closes_is_seen_through():
    provider = OfflineWhisperProvider(cpu_threads=1, num_workers=1)
    model = shared_model(provider.models, provider.runtime)
    audio = np.concatenate([np.array(KENNEDY[0].samples), np.zeros(RATE * 3, np.float32)])
    once = decode_once(model, audio, **KWARGS)
    assert once.covered == math.inf and once.language == "en"
    assert "country" in " ".join(p.text for p in once.phrases).lower()
