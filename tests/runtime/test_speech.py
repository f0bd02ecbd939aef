"""Speech segmenter: live per-participant audio in, one segment per sentence out."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from sitin.runtime.pipeline.speech import (
    Downsampler,
    SegmenterOptions,
    SpeakerSegmenters,
    SpeechSegmenter,
)
from sitin.transcription.offline import OfflineWhisperProvider
from transcription.speech_audio import (
    SENTENCES,
    frames_48k,
    requires_flite,
    silence_16k,
    speech_16k,
    to_48k_int16,
    word_error_rate,
)

pytestmark = requires_flite

START_MS = 1_700_000_000_000.0


def timeline(*parts: tuple[float, str | None]) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Build 16 kHz audio from (seconds of silence before, sentence) parts; returns truth spans."""
    pieces, spans, cursor = [], [], 0.0
    for gap_s, text in parts:
        pieces.append(silence_16k(gap_s))
        cursor += gap_s
        if text:
            speech = speech_16k(text)
            pieces.append(speech)
            spans.append((cursor, cursor + len(speech) / 16_000))
            cursor += len(speech) / 16_000
    return np.concatenate(pieces), spans


def feed_all(segmenter: SpeechSegmenter, audio_16k: np.ndarray, start_ms: float = START_MS):
    segments = []
    for frame, timestamp in frames_48k(to_48k_int16(audio_16k), 0):
        segments += segmenter.feed(frame, start_ms + timestamp)
    return segments + segmenter.flush()


def test_sentences_separated_by_one_second_become_separate_segments():
    audio, spans = timeline(
        (1.0, SENTENCES[0]), (1.0, SENTENCES[1]), (1.0, SENTENCES[2]), (1, None)
    )
    segments = feed_all(SpeechSegmenter("alice"), audio)

    assert len(segments) == 3
    for segment, (start_s, end_s) in zip(segments, spans, strict=True):
        assert segment.speaker_uuid == "alice"
        assert segment.samples.dtype == np.float32
        assert -500 <= segment.start_ms - (START_MS + start_s * 1000) <= 100  # lead pad kept
        assert abs(segment.end_ms - (START_MS + end_s * 1000)) <= 300


def test_each_segment_carries_the_speakers_speech_before_it_as_context():
    audio, _ = timeline((1.0, SENTENCES[0]), (1.0, SENTENCES[1]), (1.0, SENTENCES[2]), (1, None))
    segments = feed_all(SpeechSegmenter("alice", SegmenterOptions(context_ms=3_000)), audio)
    assert len(segments) == 3 and segments[0].context is None
    for index, segment in enumerate(segments[1:], 1):
        before = np.concatenate([s.samples for s in segments[:index]])
        assert len(segment.context) == min(len(before), 3 * 16_000)
        assert np.array_equal(segment.context, before[len(before) - len(segment.context) :])
    assert len(segments[0].samples) + len(segments[1].samples) > 3 * 16_000  # the bound held
    without = feed_all(SpeechSegmenter("bob", SegmenterOptions(context_ms=0)), audio)
    assert [s.context for s in without] == [None] * 3


def test_silence_and_faint_noise_give_no_segments():
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(16_000 * 4) * 0.003).astype(np.float32)
    audio = np.concatenate([silence_16k(2), noise])
    assert feed_all(SpeechSegmenter("alice"), audio) == []


def test_flush_emits_speech_still_in_progress():
    speech = speech_16k(SENTENCES[3])
    audio = np.concatenate([silence_16k(0.5), speech[: len(speech) // 2]])
    segments = feed_all(SpeechSegmenter("alice"), audio)
    assert len(segments) == 1
    assert abs(segments[0].start_ms - (START_MS + 500)) <= 500


def test_long_speech_is_cut_at_the_maximum_length_without_overlap():
    options = SegmenterOptions(max_segment_ms=4_000)
    audio, spans = timeline(
        (0.5, SENTENCES[1]), (0.1, SENTENCES[2]), (0.1, SENTENCES[3]), (1, None)
    )
    segments = feed_all(SpeechSegmenter("alice", options), audio)

    assert len(segments) >= 3
    for earlier, later in zip(segments, segments[1:], strict=False):
        assert earlier.end_ms <= later.start_ms + 1
    assert all(
        s.duration_ms <= 4_000 + options.lead_pad_ms + options.speech_pad_ms for s in segments
    )
    spoken_ms = sum(end - start for start, end in spans) * 1000
    assert sum(s.duration_ms for s in segments) >= 0.9 * spoken_ms


def test_a_hole_in_the_stream_keeps_segment_times_on_the_capture_clock():
    segmenter = SpeechSegmenter("alice")
    first, _ = timeline((0.5, SENTENCES[0]), (1.0, None))
    second, _ = timeline((0.5, SENTENCES[5]), (1.0, None))
    later_ms = START_MS + 60_000  # muted for about a minute: no frames at all
    segments = feed_all(segmenter, first) + feed_all(segmenter, second, start_ms=later_ms)

    assert len(segments) == 2
    assert abs(segments[0].start_ms - (START_MS + 500)) <= 500
    assert abs(segments[1].start_ms - (later_ms + 500)) <= 500


def test_downsampler_keeps_speech_band_and_removes_aliases():
    t = np.arange(48_000 * 2) / 48_000
    downsample = Downsampler(48_000)
    for frequency, expected_gain in ((1_000, 1.0), (12_000, 0.0)):
        tone = np.sin(2 * np.pi * frequency * t).astype(np.float32)
        out = np.concatenate([downsample(tone[i : i + 960]) for i in range(0, len(tone), 960)])
        assert len(out) == len(tone) // 3
        gain = np.sqrt(2 * np.mean(out[1000:] ** 2))
        assert gain == pytest.approx(expected_gain, abs=0.05)


def test_two_participants_taking_turns_are_transcribed_as_themselves():
    # alice speaks, then bob answers, then alice again; both streams run the whole time.
    alice_audio, alice_spans = timeline((0.5, SENTENCES[1]), (6.0, SENTENCES[3]), (1.0, None))
    bob_start = alice_spans[0][1] + 0.8
    bob_audio, bob_spans = timeline((bob_start, SENTENCES[2]), (1.0, None))
    length = max(len(alice_audio), len(bob_audio))
    assert bob_spans[0][1] + 0.8 < alice_spans[1][0], "the turns must not overlap"
    streams = {
        name: list(frames_48k(to_48k_int16(np.pad(audio, (0, length - len(audio)))), 0))
        for name, audio in (("alice", alice_audio), ("bob", bob_audio))
    }

    segmenters = SpeakerSegmenters()
    segments = []
    for alice_frame, bob_frame in zip(streams["alice"], streams["bob"], strict=True):
        for name, (pcm, offset) in (("alice", alice_frame), ("bob", bob_frame)):
            segments += segmenters.feed(name, pcm, START_MS + offset)
    segments += segmenters.flush_all()
    segments.sort(key=lambda s: s.start_ms)

    assert [s.speaker_uuid for s in segments] == ["alice", "bob", "alice"]
    truth = [alice_spans[0], bob_spans[0], alice_spans[1]]
    for segment, (start_s, _end) in zip(segments, truth, strict=True):
        assert abs(segment.start_ms - (START_MS + start_s * 1000)) <= 500

    provider = OfflineWhisperProvider()

    async def transcribe_all():
        return [(await provider.transcribe(s)).transcript for s in segments]

    transcripts = asyncio.run(transcribe_all())
    for transcript, text in zip(
        transcripts, [SENTENCES[1], SENTENCES[2], SENTENCES[3]], strict=True
    ):
        assert word_error_rate(text, transcript) <= 0.2


def test_a_silent_participant_costs_no_vad_model_run_and_speech_after_it_is_still_found():
    """Quiet noise (-70 dBFS) is silence without the model; the model runs only where there is
    sound, and the sentence after a long silence is cut whole."""
    rng = np.random.default_rng(7)
    quiet = (rng.standard_normal(16_000 * 5 + 128) * 10**-3.5 / 3).astype(np.float32)
    audio, [(start_s, end_s)] = timeline((0.5, SENTENCES[0]), (1.0, None))
    segmenter = SpeechSegmenter("alice")
    session = segmenter._vad._session
    runs: list[int] = []

    class CountingSession:
        def run(self, outputs, feeds):
            runs.append(len(feeds["input"]))
            return session.run(outputs, feeds)

    segmenter._vad._session = CountingSession()
    assert feed_all(segmenter, quiet) == [] and runs == []
    origin_ms = START_MS + len(quiet) / 16
    [segment] = feed_all(segmenter, audio, origin_ms)
    assert 0 < sum(runs) <= len(audio) // 512 + 1
    begin_ms, end_ms = segment.start_ms - origin_ms, segment.end_ms - origin_ms
    assert start_s * 1000 - 600 <= begin_ms <= start_s * 1000  # the lead pad, a window or so
    assert end_s * 1000 - 100 <= end_ms <= end_s * 1000 + 1000
