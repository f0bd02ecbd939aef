"""Speech fixtures made with flite (offline TTS), read back as 48 kHz mono int16."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

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


def read_pcm_48k(path: Path) -> np.ndarray:
    """Any audio file PyAV can read, as 48 kHz mono int16 samples."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    chunks = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
    chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return np.concatenate(chunks)


def rms_dbfs(pcm: np.ndarray) -> float:
    if len(pcm) == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(pcm, dtype=np.float64)))) / 32768.0
    return 20.0 * np.log10(max(rms, 1e-6))
