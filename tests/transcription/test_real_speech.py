"""The live pipeline on real human speech: four people taking turns, as a bot receives them.

Assertions are properties with margins (words present, nothing said twice, no turn lost, WER
bounds well above what tiny.en reaches here), never one CPU's exact decoder output.
"""

import asyncio

import numpy as np
import pytest

from sitin.encryption import DataKey
from sitin.runtime.pipeline.speech import SpeakerSegmenters
from sitin.runtime.pipeline.transcriber import SegmentTranscriber
from sitin.transcription.offline import OfflineWhisperProvider
from support.speech import normalise, word_error_rate
from transcription.real_speech import (
    dropped_turns,
    meeting,
    reading,
    repeated_beyond_reference,
)
from transcription.speech_audio import frames_48k, to_48k_int16

ORIGIN_MS = 1_700_000_000_000


def segments_of(scene):
    """Every speaker's 48 kHz track through one SpeakerSegmenters, frames in step."""
    streams = {s: list(frames_48k(to_48k_int16(scene.track(s)), 0)) for s in scene.speakers}
    segmenters = SpeakerSegmenters()
    segments = []
    for frames in zip(*streams.values(), strict=False):
        for speaker, (pcm, offset) in zip(streams, frames, strict=True):
            segments += segmenters.feed(speaker, pcm, ORIGIN_MS + offset)
    return segments + segmenters.flush_all()


def seconds(ms: float) -> float:
    return (ms - ORIGIN_MS) / 1000


@pytest.mark.parametrize("scene", [reading(), meeting()], ids=lambda scene: scene.name)
def test_every_turn_lies_whole_inside_one_speakers_segments(scene):
    """No word clipped at a segment edge (a soft first word lost its start before), no audio
    given twice, every segment belongs to whoever spoke then."""
    segments = segments_of(scene)
    for speaker in scene.speakers:
        mine = sorted((s for s in segments if s.speaker_uuid == speaker), key=lambda s: s.start_ms)
        for earlier, later in zip(mine, mine[1:], strict=False):
            assert earlier.end_ms <= later.start_ms + 1
        for turn in (t for t in scene.turns if t.speaker == speaker):
            begin, end = turn.speech()
            covering = [s for s in mine if seconds(s.start_ms) < end and seconds(s.end_ms) > begin]
            assert covering, f"{turn.recording.file}: no segment"
            assert seconds(covering[0].start_ms) <= begin - 0.05, turn.recording.file
            # the end by energy is late on a noisy recording (the crowd after Kennedy's last word)
            assert seconds(covering[-1].end_ms) >= end - 0.4, turn.recording.file
    assert scene.overlap_fraction() >= (0.05 if scene.name == "meeting" else 0)


def test_live_pipeline_hears_every_turn_of_a_real_meeting_once(tmp_path):
    scene = meeting()
    heard: dict[str, list[tuple[float, str]]] = {speaker: [] for speaker in scene.speakers}

    async def on_result(segment, transcription, failure):
        assert failure is None, failure
        start_s = seconds(segment.start_ms)
        heard[segment.speaker_uuid] += [
            (start_s + w["start"], w["word"]) for w in transcription.words
        ]

    async def run():
        transcriber = SegmentTranscriber(
            OfflineWhisperProvider(), on_result, work_dir=tmp_path, seal_with=DataKey.generate()
        )
        for segment in segments_of(scene):
            transcriber.submit(segment)
        await transcriber.drain()

    asyncio.run(run())
    bounds = {"reader": 0.15, "kennedy": 0.25, "cards": 0.4, "forward": 0.5}
    for speaker, bound in bounds.items():
        words = sorted(heard[speaker])
        text = " ".join(word for _, word in words)
        reference = scene.reference(speaker)
        assert repeated_beyond_reference(normalise(text), normalise(reference)) == 0, text
        assert dropped_turns(scene, speaker, words) == 0, text
        assert word_error_rate(reference, text) <= bound, text
    assert {"dashwood", "amiable", "respectable"} <= set(
        normalise(" ".join(w for _, w in heard["reader"]))
    )
    assert {"forward", "meters"} <= set(normalise(" ".join(w for _, w in heard["forward"])))
    assert np.isfinite([t for words in heard.values() for t, _ in words]).all()


def test_a_phrase_said_twice_is_counted_a_word_misheard_each_time_is_not():
    def count(heard: str, said: str) -> int:
        return repeated_beyond_reference(normalise(heard), normalise(said))

    assert count("go forward ten meters thanks for watching thanks for watching", "go forward") == 1
    assert count("neither desire neither desire neither desire", "neither desire") == 1
    assert count("seven of cloves four of cloves seven", "seven of clubs four of clubs seven") == 0
    assert count("ask what you can do ask what you can do", "ask what you can do " * 2) == 0
