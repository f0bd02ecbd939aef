"""16 kHz mono 16-bit WAV encoding of segment samples (upload bodies, spill files)."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from sitin.transcription.base import SAMPLE_RATE


def to_int16(samples: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    return (clipped * 32767.0).astype("<i2")


def encode_wav(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """float32 samples in [-1, 1] → the bytes of a mono 16-bit PCM WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(to_int16(samples).tobytes())
    return buffer.getvalue()


def decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Bytes of a mono 16-bit PCM WAV file → (float32 samples, sample rate)."""
    with wave.open(io.BytesIO(data), "rb") as source:
        if source.getnchannels() != 1 or source.getsampwidth() != 2:
            raise ValueError("expected a mono 16-bit PCM WAV")
        rate = source.getframerate()
        pcm = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0, rate


def write_wav(path: Path, samples: np.ndarray) -> None:
    path.write_bytes(encode_wav(samples))


def read_wav(path: Path) -> np.ndarray:
    samples, rate = decode_wav(path.read_bytes())
    if rate != SAMPLE_RATE:
        raise ValueError(f"{path.name}: expected {SAMPLE_RATE} Hz, found {rate} Hz")
    return samples
