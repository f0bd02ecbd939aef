"""One packed Whisper window decoded with a single encoder pass.

faster-whisper decodes audio window after window. When the decoder's text ends in a phrase it has
not closed with a timestamp, the loop goes back to the end of the last closed phrase and encodes
the audio from there again: a second encoder pass, most of what a window costs, for the last
phrase of a packed window or often only the silence after it (benchmarks/transcription.py --bots:
1.34 encoder passes per window). A packed window need not pay for it: the segments a decode did
not reach go into the next window instead (packing.py).

`decode_once` runs faster-whisper's own transcription, unchanged, on a view of the model that
refuses the loop's second encoder pass, and says how far the decode got.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.transcribe import Segment


class _SecondPass(Exception):
    """The loop asked to encode the window again."""


class _FirstWindowOnly:
    """The model as faster-whisper's decoding loop sees it, refusing the loop's second encoder
    pass. Everything else is the model's own."""

    def __init__(self, model: WhisperModel) -> None:
        self._model = model
        self._encoded = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def generate_segments(self, *args: Any, **kwargs: Any) -> Any:
        # the model's loop, run with this view as its model so that its encoder calls come here
        return WhisperModel.generate_segments(self, *args, **kwargs)

    def encode(self, features: np.ndarray) -> Any:
        if self._encoded:
            raise _SecondPass
        self._encoded = True
        return self._model.encode(features)


@dataclass(frozen=True)
class OnePass:
    phrases: list[Segment]
    language: str
    # Seconds into the window the decode saw through: the end of its last closed phrase when
    # it stopped before the window's end, infinity when it reached the end.
    covered: float


def decode_once(model: WhisperModel, audio: np.ndarray, **transcribe_kwargs: Any) -> OnePass:
    """`model.transcribe(audio, **transcribe_kwargs)` with one encoder pass (blocking). Phrases
    after the last one the decoder closed are left out: `covered` says where they start."""
    phrases, info = WhisperModel.transcribe(_FirstWindowOnly(model), audio, **transcribe_kwargs)
    seen: list[Segment] = []
    try:
        for phrase in phrases:  # the generator does the decoding work
            seen.append(phrase)
    except _SecondPass:
        return OnePass(seen, info.language, seen[-1].end if seen else 0.0)
    return OnePass(seen, info.language, math.inf)
