"""Speech fixtures made with flite (offline TTS), read back as 48 kHz mono int16."""

from __future__ import annotations

import io
import re
import subprocess
import wave
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

SAMPLE_RATE = 48_000


def flite_wav(directory: Path, name: str, text: str, *, tail_silence_s: float = 0.0) -> Path:
    """Write `<directory>/<name>.wav` saying `text` (flite voice slt, 16 kHz mono)."""
    path = directory / f"{name}.wav"
    subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True)
    if tail_silence_s:
        with wave.open(str(path), "rb") as wav:
            params, frames = wav.getparams(), wav.readframes(wav.getnframes())
        silence = b"\0" * int(tail_silence_s * params.framerate) * params.sampwidth
        with wave.open(str(path), "wb") as wav:
            wav.setparams(params)
            wav.writeframes(frames + silence)
    return path


def microphone_wav(
    directory: Path, name: str, text: str, speak_at_s: float, length_s: float
) -> Path:
    """A fake-microphone WAV of `length_s`: silent, says `text` (flite) at `speak_at_s`, silent."""
    spoken = flite_wav(directory, f"{name}-speech", text)
    with wave.open(str(spoken), "rb") as source:
        params = source.getparams()
        speech = np.frombuffer(source.readframes(source.getnframes()), dtype=np.int16)
    rate = params.framerate
    samples = np.zeros(int(length_s * rate), dtype=np.int16)
    start = int(speak_at_s * rate)
    samples[start : start + len(speech)] = speech
    path = directory / f"{name}.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def read_pcm_48k(source: Path | BinaryIO) -> np.ndarray:
    """Any audio file PyAV can read (a path, or a binary file object), as 48 kHz mono int16."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    chunks = []
    with av.open(str(source) if isinstance(source, str | Path) else source) as container:
        for frame in container.decode(audio=0):
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
    chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return np.concatenate(chunks)


def rms_dbfs(pcm: np.ndarray) -> float:
    if len(pcm) == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(pcm, dtype=np.float64)))) / 32768.0
    return 20.0 * np.log10(max(rms, 1e-6))


def window_dbfs(pcm: np.ndarray, rate: int, window_s: float = 0.02) -> np.ndarray:
    """The level of each whole `window_s` window of `pcm`, in dBFS (vectorised: tests poll it
    often while real peers share the process, so it must stay cheap)."""
    size = int(window_s * rate)
    count = len(pcm) // size
    windows = pcm[: count * size].reshape(count, size).astype(np.float64)
    rms = np.sqrt(np.mean(np.square(windows), axis=1)) / 32768.0
    return 20.0 * np.log10(np.maximum(rms, 1e-6))


_NUMBERS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
]
_SPELLED = {str(n): word for n, word in enumerate(_NUMBERS)} | {"mr": "mister", "mrs": "missus"}


def normalise(text: str) -> list[str]:
    """Lower-case words without punctuation, for comparing transcripts. Numbers up to twenty and
    a few abbreviations are spelled out (Whisper writes "10 of clubs", "Mr. Dashwood")."""
    words = re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()
    return [_SPELLED.get(word, word) for word in words]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, after normalising."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, hyp_word in enumerate(hyp, start=1):
            current[j] = min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (ref_word != hyp_word),
            )
        previous = current
    return previous[-1] / max(len(ref), 1)


def decode_mono(data: bytes) -> tuple[np.ndarray, int]:
    """An encoded recording (mp3, webm, mp4) as float32 samples of its first channel, and rate."""
    with av.open(io.BytesIO(data)) as container:
        frames = list(container.decode(audio=0))
    rate = frames[0].sample_rate
    audio = np.concatenate([f.to_ndarray().reshape(len(f.layout.channels), -1)[0] for f in frames])
    return audio.astype(np.float32), rate
