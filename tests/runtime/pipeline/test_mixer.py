"""Mixer: frames from several participants land on one timeline by their timestamps."""

from __future__ import annotations

import numpy as np

from sitin.runtime.adapters.base import AudioFrame
from sitin.runtime.pipeline.mixer import Mixer

START_MS = 1_700_000_000_000.0


def tone(value: int, samples: int = 960) -> np.ndarray:
    return np.full(samples, value, dtype=np.int16)


def test_frames_are_placed_by_timestamp_and_gaps_are_silence() -> None:
    mixer = Mixer(START_MS)
    mixer.add(AudioFrame("alice", tone(1000), START_MS + 100))
    mixed = mixer.take_until(START_MS + 200)
    assert len(mixed) == 9600  # 200 ms at 48 kHz
    assert not mixed[:4800].any()
    assert (mixed[4800:5760] == 1000).all()
    assert not mixed[5760:].any()


def test_overlapping_participants_are_summed_and_clipped() -> None:
    mixer = Mixer(START_MS)
    mixer.add(AudioFrame("alice", tone(1000), START_MS))
    mixer.add(AudioFrame("bob", tone(2000), START_MS + 10))
    mixer.add(AudioFrame("carol", tone(30000), START_MS + 100))
    mixer.add(AudioFrame("dave", tone(30000), START_MS + 100))
    mixed = mixer.take_until(START_MS + 120)
    assert (mixed[:480] == 1000).all()
    assert (mixed[480:960] == 3000).all()
    assert (mixed[960:1440] == 2000).all()
    assert (mixed[4800:5760] == 32767).all()


def test_jittery_timestamps_continue_the_participants_stream_without_gaps() -> None:
    mixer = Mixer(START_MS)
    for number, jitter_ms in enumerate([0, 3, -4, 7, 1]):
        mixer.add(AudioFrame("alice", tone(500), START_MS + number * 20 + jitter_ms))
    mixed = mixer.take_until(START_MS + 100)
    assert (mixed == 500).all()


def test_audio_for_a_span_already_handed_out_is_dropped() -> None:
    mixer = Mixer(START_MS)
    first = mixer.take_until(START_MS + 40)
    mixer.add(AudioFrame("alice", tone(700), START_MS + 30))
    rest = mixer.take_until(START_MS + 60)
    assert not first.any()
    assert mixer.late_samples == 480
    assert (rest[:480] == 700).all()
    assert len(first) + len(rest) == 2880
