"""Speech fixtures for transcription tests: flite voices, resampling, word error rate."""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from av.audio.resampler import AudioResampler
from faster_whisper.audio import decode_audio

from support.speech import normalise, word_error_rate

# Numbers are avoided on purpose: Whisper writes "ten" as "10".
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please schedule the project review meeting for next Tuesday morning.",
    "We need to finish the budget report before the end of the month.",
    "Our customers asked for a simpler way to export their data.",
    "The new office opens in the spring with room for many people.",
    "Thank you all for joining the call this morning.",
)

requires_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")


@functools.lru_cache(maxsize=64)
def _flite(text: str, voice: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.wav"
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True)
        return decode_audio(str(path), sampling_rate=16_000)


def speech_16k(text: str, voice: str = "slt", *, trim: bool = True) -> np.ndarray:
    """flite speech as 16 kHz float32; `trim` cuts flite's leading and trailing silence."""
    audio = _flite(text, voice).copy()
    if trim:
        loud = np.flatnonzero(np.abs(audio) > 0.02)
        audio = audio[loud[0] : loud[-1] + 1]
    return audio


def silence_16k(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * 16_000), dtype=np.float32)


def to_48k_int16(audio_16k: np.ndarray) -> np.ndarray:
    """What the room adapter delivers: 48 kHz mono int16."""
    pcm = (np.clip(audio_16k, -1, 1) * 32767).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
    frame.sample_rate = 16_000
    resampler = AudioResampler(format="s16", layout="mono", rate=48_000)
    out = resampler.resample(frame) + resampler.resample(None)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in out])


def frames_48k(
    audio: np.ndarray, start_ms: int, frame_ms: int = 20
) -> Iterator[tuple[np.ndarray, int]]:
    """Split 48 kHz samples into (frame, capture timestamp ms) like a live track."""
    step = 48 * frame_ms
    for offset in range(0, len(audio), step):
        yield audio[offset : offset + step], start_ms + offset // 48


def repeated_phrases(words: list[str], length: int = 3) -> list[tuple[str, ...]]:
    """Every run of `length` words that occurs more than once (a decoder saying a phrase twice)."""
    seen: set[tuple[str, ...]] = set()
    repeated: list[tuple[str, ...]] = []
    for i in range(len(words) - length + 1):
        phrase = tuple(words[i : i + length])
        if phrase in seen and phrase not in repeated:
            repeated.append(phrase)
        seen.add(phrase)
    return repeated


__all__ = ["normalise", "word_error_rate"]  # shared with the end-to-end tests
