"""Real human speech with reference transcripts, and meetings built from it.

The recordings in fixtures/speech/ come from packages on the registries (see the README there for
each file's package, path and licence): a LibriVox reader (public domain), President Kennedy's
inaugural address (public domain), and two CMU Sphinx test speakers (BSD-2-Clause). They are
16 kHz mono FLAC, exactly the samples the packages ship.

`reading()` is one person reading five sentences; `meeting()` is four participants taking turns,
one talking at a time with about 10 % of the time overlapped, one track per participant as a bot
receives them. Both give the tracks and the ground truth of every turn.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from faster_whisper.audio import decode_audio

SPEECH_DIR = Path(__file__).parent / "fixtures" / "speech"
RATE = 16_000


@dataclass(frozen=True)
class Recording:
    file: str
    text: str

    @property
    def samples(self) -> np.ndarray:
        return _decode(self.file)

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE

    def speech_span(self) -> tuple[float, float]:
        """Seconds from the file start to the first and last clearly voiced sample."""
        envelope = np.convolve(np.abs(self.samples), np.ones(160) / 160, mode="same")
        voiced = np.flatnonzero(envelope > 0.1 * envelope.max())
        return voiced[0] / RATE, voiced[-1] / RATE


@functools.cache
def _decode(file: str) -> np.ndarray:
    audio = decode_audio(str(SPEECH_DIR / file), sampling_rate=RATE)
    audio.setflags(write=False)
    return audio


READER = tuple(
    Recording(f"librivox-austen-{number}.flac", text)
    for number, text in (
        (
            "0870",
            "and mister john dashwood had then leisure to consider how much there might be"
            " prudently in his power to do for them",
        ),
        ("0880", "he was not an ill disposed young man"),
        ("0890", "unless to be rather cold hearted and rather selfish is to be ill disposed"),
        (
            "0920",
            "had he married a more amiable woman he might have been made still more"
            " respectable than he was",
        ),
        ("0930", "he might even have been made amiable himself"),
    )
)
CARDS = tuple(
    Recording(f"cmu-cards-{number}.flac", text)
    for number, text in (
        ("001", "ten of clubs"),
        ("002", "four queen of clubs"),
        ("003", "seven of clubs"),
        ("004", "five five"),
        ("005", "eight of spades four of clubs seven of hearts"),
    )
)
KENNEDY = (
    Recording(
        "jfk.flac",
        "and so my fellow americans ask not what your country can do for you"
        " ask what you can do for your country",
    ),
)
GO_FORWARD = (Recording("cmu-goforward.flac", "go forward ten meters"),)


@dataclass(frozen=True)
class Turn:
    """One recording played by `speaker` from `start_s` of the meeting (the file's own start)."""

    speaker: str
    recording: Recording
    start_s: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.recording.seconds

    def speech(self) -> tuple[float, float]:
        """Meeting seconds of the first and last voiced sample of this turn."""
        begin, end = self.recording.speech_span()
        return self.start_s + begin, self.start_s + end


@dataclass(frozen=True)
class Meeting:
    name: str
    turns: tuple[Turn, ...]
    tail_s: float = 1.5  # silence after the last turn

    @property
    def seconds(self) -> float:
        return max(turn.end_s for turn in self.turns) + self.tail_s

    @property
    def speakers(self) -> list[str]:
        return list(dict.fromkeys(turn.speaker for turn in self.turns))

    def track(self, speaker: str) -> np.ndarray:
        """What the bot receives from `speaker`: their turns, silence elsewhere (16 kHz)."""
        audio = np.zeros(round(self.seconds * RATE), dtype=np.float32)
        for turn in self.turns:
            if turn.speaker == speaker:
                at = round(turn.start_s * RATE)
                audio[at : at + len(turn.recording.samples)] += turn.recording.samples
        return audio

    def reference(self, speaker: str) -> str:
        return " ".join(t.recording.text for t in self.turns if t.speaker == speaker)

    def overlap_fraction(self) -> float:
        """Share of the time with speech in which two or more participants speak."""
        grid = np.zeros(round(self.seconds * 100), dtype=np.int32)
        for turn in self.turns:
            begin, end = turn.speech()
            grid[round(begin * 100) : round(end * 100)] += 1
        return float((grid > 1).sum() / max((grid > 0).sum(), 1))


def reading(gap_s: float = 0.8) -> Meeting:
    """One person reading five sentences of a novel, a short pause between sentences."""
    turns, cursor = [], 0.5
    for recording in READER:
        turns.append(Turn("reader", recording, cursor))
        cursor += recording.seconds + gap_s
    return Meeting("reading", tuple(turns))


def meeting(overlap_s: float = 0.9, gap_s: float = 0.6) -> Meeting:
    """Four participants taking turns in round-robin; every other change of speaker overlaps the
    end of the previous turn by `overlap_s` of speech, the others leave `gap_s` of silence."""
    queues = {
        "reader": list(READER),
        "cards": list(CARDS),
        "kennedy": list(KENNEDY),
        "forward": list(GO_FORWARD),
    }
    turns: list[Turn] = []
    speech_end = 0.5
    while any(queues.values()):
        for speaker, queue in queues.items():
            if not queue:
                continue
            recording = queue.pop(0)
            lead_in = recording.speech_span()[0]
            offset = -overlap_s if len(turns) % 2 else gap_s
            start = max(0.0, speech_end + offset - lead_in)
            turn = Turn(speaker, recording, start)
            turns.append(turn)
            speech_end = max(speech_end, turn.speech()[1])
    return Meeting("meeting", tuple(turns))


def repeated_beyond_reference(heard: list[str], reference: list[str], length: int = 3) -> int:
    """Phrases said twice by the decoder: runs of words that the alignment with the reference
    finds inserted and that hold a phrase of `length` words heard twice. (A word the model
    mishears the same way each time is a substitution, not a repeat.)"""
    rows = [list(range(len(heard) + 1))]
    for i, word in enumerate(reference, 1):
        row = [i]
        for j, guess in enumerate(heard, 1):
            row.append(min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (word != guess)))
        rows.append(row)
    inserted = [False] * len(heard)
    i, j = len(reference), len(heard)
    while j > 0:
        if i > 0 and rows[i][j] == rows[i - 1][j - 1] + (reference[i - 1] != heard[j - 1]):
            i, j = i - 1, j - 1
        elif i > 0 and rows[i][j] == rows[i - 1][j] + 1:
            i -= 1
        else:
            inserted[j - 1] = True
            j -= 1
    said = [tuple(heard[k : k + length]) for k in range(len(heard) - length + 1)]
    repeats, start = 0, None
    for index, flag in enumerate([*inserted, False]):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            if any(said.count(said[k]) >= 2 for k in range(start, index - length + 1)):
                repeats += 1
            start = None
    return repeats


def dropped_turns(meeting: Meeting, speaker: str, words: list[tuple[float, str]]) -> int:
    """Turns of >= 0.5 s of speech in which no word of theirs was heard (0.3 s of slack)."""
    dropped = 0
    for turn in meeting.turns:
        begin, end = turn.speech()
        if turn.speaker != speaker or end - begin < 0.5:
            continue
        if not any(begin - 0.3 <= at <= end + 0.3 for at, _ in words):
            dropped += 1
    return dropped
