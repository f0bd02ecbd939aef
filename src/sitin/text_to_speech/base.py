"""The one interface every text-to-speech engine implements.

An engine yields the spoken text as consecutive pieces of 16-bit mono PCM, the first as soon as it
exists (a sentence at a time), so the bot starts talking before the whole text is synthesised.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np

# Split after sentence ends and, for long sentences, after clause marks: short first pieces
# make the time to first audio small whatever the length of the text.
SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")
CLAUSE_END = re.compile(r"(?<=[,])\s+")
LONG_PIECE = 80  # characters: a sentence longer than this is cut at its commas
FIRST_PIECE_WORDS = 6  # the first piece is at most this many words when there is no early mark


class SpeechFailed(Exception):
    """The text could not be spoken; the message says why (never the text itself)."""


@dataclass(frozen=True, eq=False)
class SpokenAudio:
    pcm: np.ndarray = field(repr=False)  # int16 mono
    sample_rate: int


class SpeechEngine(ABC):
    name: str

    @abstractmethod
    def synthesize(self, text: str) -> AsyncIterator[SpokenAudio]:
        """The audio of `text`, piece by piece; raises SpeechFailed."""

    async def aclose(self) -> None:  # noqa: B027 (most engines hold nothing to release)
        """Release processes or connections."""


def pieces(text: str) -> list[str]:
    """`text` cut into sentence-sized pieces, the first one short, nothing lost."""
    result: list[str] = []
    for sentence in SENTENCE_END.split(text.strip()):
        if len(sentence) > LONG_PIECE:
            result.extend(p for p in CLAUSE_END.split(sentence) if p)
        elif sentence:
            result.append(sentence)
    if result:
        words = result[0].split()
        if len(words) > 2 * FIRST_PIECE_WORDS:
            result[:1] = [" ".join(words[:FIRST_PIECE_WORDS]), " ".join(words[FIRST_PIECE_WORDS:])]
    return result
