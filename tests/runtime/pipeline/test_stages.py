"""Each pipeline stage on its own: frames fed in, what comes out asserted. No meeting, no network
(real VAD, real PyAV encoder; the transcription provider is a local stand-in)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from sitin.core.audio import MEETING_SAMPLE_RATE
from sitin.encryption import DataKey
from sitin.runtime.adapters.outbound import OutboundAudio
from sitin.runtime.frames import (
    AudioFrame,
    AudioOut,
    ChatReceived,
    ClearAudioOut,
    Frame,
    ParticipantJoined,
    ParticipantLeft,
    RecordingPaused,
    RecordingResumed,
    SpeechSegment,
    SpeechStart,
    SpeechStop,
    Utterance,
)
from sitin.runtime.pipeline.recorder import Recorder, now_ms
from sitin.runtime.pipeline.speech import SpeakerSegmenters
from sitin.runtime.pipeline.stages import (
    PauseGate,
    PlaybackStage,
    RecordingStage,
    SegmentationStage,
    TranscriptionStage,
    joined_runs,
)
from sitin.transcription.base import Transcription, TranscriptionFailed, TranscriptionProvider
from support.pipeline import feed, kinds
from support.speech import read_pcm_48k, rms_dbfs
from transcription.speech_audio import requires_flite, silence_16k, speech_16k, to_48k_int16

KEY = DataKey.generate()  # what the bot's scratch files are sealed under

FRAME = 960  # 20 ms at the meeting rate
START_MS = 1_700_000_000_000.0


def audio_frames(uuid: str, pcm: np.ndarray, start_ms: float) -> list[AudioFrame]:
    return [
        AudioFrame(uuid, pcm[i : i + FRAME], start_ms + i * 1000 / MEETING_SAMPLE_RATE)
        for i in range(0, len(pcm), FRAME)
    ]


def tone(seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * MEETING_SAMPLE_RATE)) / MEETING_SAMPLE_RATE
    return (np.sin(2 * np.pi * 440 * t) * level * 32767).astype(np.int16)


# --- PauseGate --------------------------------------------------------------------------------


def meeting_moment(at: int) -> list[Frame]:
    return [
        AudioFrame("p1", np.zeros(FRAME, np.int16), at),
        SpeechStart("p1", at),
        ChatReceived("p1", "hello", at),
        SpeechStop("p1", at),
        ParticipantJoined("p2", "Bob", is_host=False, timestamp_ms=at),
    ]


@pytest.mark.parametrize("keep_chat", [False, True])
def test_pause_gate_holds_back_what_is_said_while_paused(keep_chat):
    frames = [
        *meeting_moment(1),
        RecordingPaused(2),
        *meeting_moment(3),
        RecordingResumed(4),
        *meeting_moment(5),
    ]
    out = feed(PauseGate(keep_chat_when_paused=keep_chat), frames=frames)
    paused = ["ParticipantJoined"] if not keep_chat else ["ChatReceived", "ParticipantJoined"]
    moment = ["AudioFrame", "SpeechStart", "ChatReceived", "SpeechStop", "ParticipantJoined"]
    assert kinds(out) == [*moment, "RecordingPaused", *paused, "RecordingResumed", *moment]


# --- RecordingStage ---------------------------------------------------------------------------


def test_recording_stage_records_the_audio_passes_it_on_and_stores_the_file(tmp_path: Path):
    start_ms = now_ms() - 2000  # 2 s of tone that "arrived" just now; the file ends at close
    recorder = Recorder(
        tmp_path / "meeting.webm", "webm", seal_with=KEY, start_ms=start_ms, latency_ms=60_000
    )
    stored: list[Recorder] = []

    async def store(finished: Recorder) -> None:
        with finished.open_recording() as recording:  # closed and finalised before it is stored
            assert recording.size > 0
        stored.append(finished)

    # paused from 0.5 s to 1.0 s: 1.5 s of the 2 s are kept
    frames: list[Frame] = audio_frames("p1", tone(2.0), start_ms)
    frames.insert(0, RecordingPaused(start_ms + 500))
    frames.insert(1, RecordingResumed(start_ms + 1000))
    out = feed(RecordingStage(recorder, store), frames=frames)
    late_s = (now_ms() - start_ms) / 1000 - 2.0  # the test's own time after the tone

    assert kinds(out).count("AudioFrame") == 100  # a tap: every frame moves on
    assert stored == [recorder]
    with recorder.open_recording() as recording:
        pcm = read_pcm_48k(recording)
    assert 1.45 < len(pcm) / MEETING_SAMPLE_RATE < 1.5 + late_s + 0.06
    assert rms_dbfs(pcm[MEETING_SAMPLE_RATE // 10 : MEETING_SAMPLE_RATE]) > -20


# --- SegmentationStage ------------------------------------------------------------------------


@requires_flite
def test_segmentation_turns_each_speakers_audio_into_speech_segments():
    sentence = "Please schedule the project review meeting for next Tuesday morning."
    speech = to_48k_int16(
        np.concatenate([silence_16k(0.5), speech_16k(sentence), silence_16k(1.5)])
    )
    silence = np.zeros(len(speech), np.int16)
    alice = audio_frames("alice", speech, START_MS)
    bob = audio_frames("bob", silence, START_MS)
    interleaved = [frame for pair in zip(alice, bob, strict=True) for frame in pair]
    left = ParticipantLeft("bob", int(START_MS) + 100)

    out = feed(SegmentationStage(SpeakerSegmenters()), frames=[*interleaved, left])

    segments = [f for f in out if isinstance(f, SpeechSegment)]
    assert [s.speaker_uuid for s in segments] == ["alice"]
    assert -500 < segments[0].start_ms - (START_MS + 500) < 100  # the segmenter's lead pad
    speech_ms = len(speech_16k(sentence)) / 16
    assert speech_ms - 200 < segments[0].duration_ms < speech_ms + 800
    assert not any(isinstance(f, AudioFrame) for f in out)  # audio is consumed here
    assert left in out


@requires_flite
def test_segmentation_flushes_speech_in_progress_at_the_end_of_the_stream():
    speech = to_48k_int16(speech_16k("We need to finish the budget report."))  # no pause after
    out = feed(
        SegmentationStage(SpeakerSegmenters(), batch_s=0), frames=audio_frames("a", speech, 0)
    )
    assert kinds(out) == ["SpeechSegment"]


def test_each_speakers_contiguous_frames_are_joined_and_a_hole_starts_a_new_run():
    a = audio_frames("a", np.arange(960 * 3, dtype=np.int16), 1_000)
    b = audio_frames("b", np.ones(960 * 2, np.int16), 1_010)
    late = AudioFrame("a", np.full(960, 7, np.int16), 1_000 + 60 + 100)  # 100 ms after a's last
    runs = joined_runs([a[0], b[0], a[1], b[1], a[2], late])
    assert [(r.uuid, r.timestamp_ms, len(r.pcm)) for r in runs] == [
        ("a", 1_000, 960 * 3),
        ("a", 1_160, 960),
        ("b", 1_010, 960 * 2),
    ]
    assert (runs[0].pcm == np.arange(960 * 3)).all()


@requires_flite
def test_joined_frames_give_the_segments_frame_by_frame_feeding_gives():
    speech = np.concatenate(
        [
            silence_16k(1.0),
            speech_16k("Please schedule the project review meeting for next Tuesday morning."),
            silence_16k(1.0),
            speech_16k("We need to finish the budget report."),
            silence_16k(1.0),
        ]
    )
    frames = audio_frames("alice", to_48k_int16(speech), START_MS)
    one_by_one, joined = SpeakerSegmenters(), SpeakerSegmenters()
    expected = [s for f in frames for s in one_by_one.feed(f.uuid, f.pcm, f.timestamp_ms)]
    found = []
    for n in range(0, len(frames), 10):  # 0.2 s at a time, as the stage hands them over
        for run in joined_runs(frames[n : n + 10]):
            found += joined.feed(run.uuid, run.pcm, run.timestamp_ms)
    assert len(expected) == len(found) == 2
    for mine, theirs in zip(found, expected, strict=True):  # within one VAD window (32 ms)
        assert abs(mine.start_ms - theirs.start_ms) <= 32
        assert abs(mine.duration_ms - theirs.duration_ms) <= 64


# --- TranscriptionStage -----------------------------------------------------------------------


class CountingProvider(TranscriptionProvider):
    """Answers with the segment's length; refuses segments of speaker "refused"."""

    name = "counting"

    def __init__(self) -> None:
        self.closed = False

    async def transcribe(self, segment: SpeechSegment) -> Transcription:
        await asyncio.sleep(0.01)  # answers arrive later, from the transcriber's own task
        if segment.speaker_uuid == "refused":
            raise TranscriptionFailed("quota exceeded", retryable=False)
        return Transcription(f"{len(segment.samples)} samples")

    async def aclose(self) -> None:
        self.closed = True


def segment(speaker: str, start_ms: int, seconds: float = 1.0) -> SpeechSegment:
    return SpeechSegment(speaker, start_ms, np.zeros(round(seconds * 16_000), np.float32))


def test_transcription_gives_one_utterance_per_segment_before_the_end(tmp_path: Path):
    provider = CountingProvider()
    chat = ChatReceived("alice", "hi", 5)
    frames = [segment("alice", 0), chat, segment("refused", 10), segment("alice", 20, 0.5)]

    out = feed(TranscriptionStage(provider, work_dir=tmp_path, seal_with=KEY), frames=frames)

    assert out[0] == chat  # other frames move on at once; utterances follow when answered
    utterances = [f for f in out if isinstance(f, Utterance)]
    assert [(u.segment.speaker_uuid, u.segment.start_ms) for u in utterances] == [
        ("alice", 0),
        ("refused", 10),
        ("alice", 20),
    ]
    assert utterances[0].transcription == Transcription("16000 samples")
    assert utterances[1].transcription is None
    assert utterances[1].failure.reason == "quota exceeded"
    assert utterances[2].transcription == Transcription("8000 samples")
    assert provider.closed


# --- PlaybackStage ----------------------------------------------------------------------------


def test_playback_plays_the_bots_audio_in_order_and_passes_the_rest_on():
    voice = OutboundAudio()
    first, second = AudioOut(tone(0.02)), AudioOut(tone(0.04))
    chat = ChatReceived("alice", "hi", 5)
    out = feed(
        PlaybackStage(voice.play, voice.clear, report=_no_report), frames=[first, chat, second]
    )
    assert voice.queued_ms == pytest.approx(60)
    assert np.array_equal(voice._take_frame(), first.pcm)
    assert second.duration_ms == pytest.approx(40)
    assert out == [chat]


async def _no_report(message: str) -> None:
    raise AssertionError(message)


def test_barge_in_drops_what_is_queued_and_what_is_still_on_its_way():
    voice = OutboundAudio()
    interrupted: list[bool] = []
    reports: list[str] = []

    async def report(message: str) -> None:
        reports.append(message)

    made_before = AudioOut(tone(0.5))
    clear = ClearAudioOut()
    after = AudioOut(tone(0.1))
    playback = PlaybackStage(
        voice.play, voice.clear, report=report, on_clear=lambda: interrupted.append(True)
    )
    feed(playback, frames=[AudioOut(tone(2.0)), clear, made_before, after])
    assert voice.queued_ms == pytest.approx(100), "only what was made after the barge-in"
    assert playback.dropped_ms == pytest.approx(2500)
    assert interrupted == [True]

    full = OutboundAudio()
    refusing = PlaybackStage(full.play, full.clear, report=report)
    too_long = AudioOut(np.zeros(16 * 60 * MEETING_SAMPLE_RATE, dtype=np.int16))
    feed(refusing, frames=[too_long, too_long, AudioOut(tone(0.1))])
    assert full.queued_ms == pytest.approx(100)
    assert len(reports) == 1 and "more than 900 s of audio" in reports[0]
