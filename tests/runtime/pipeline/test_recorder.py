"""Recorder: mixed speech encoded to mp3 / webm / mp4, decoded back with PyAV."""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest

from sitin.encryption import DataKey
from sitin.encryption.scratch import SLOT_BYTES
from sitin.runtime.adapters.base import AudioFrame
from sitin.runtime.pipeline.recorder import FORMATS, Recorder, open_recorder
from support.plaintext import hits_in
from support.speech import flite_wav, read_pcm_48k, rms_dbfs, window_dbfs

KEY = DataKey.generate()  # what the bot's scratch files are sealed under

FRAME = 960


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    directory = tmp_path_factory.mktemp("speech")
    return read_pcm_48k(flite_wav(directory, "speech", "The budget review is next Tuesday."))


def push_speech(recorder: Recorder, uuid: str, pcm: np.ndarray, at_ms: float) -> None:
    for offset in range(0, len(pcm), FRAME):
        chunk = pcm[offset : offset + FRAME]
        recorder.push(AudioFrame(uuid, chunk, at_ms + offset * 1000 / 48_000))


def decode(recorder: Recorder) -> np.ndarray:
    with recorder.open_recording() as recording:
        return read_pcm_48k(recording)


def second_levels(pcm: np.ndarray) -> list[float]:
    return [rms_dbfs(pcm[i : i + 48_000]) for i in range(0, len(pcm) - 47_999, 48_000)]


@pytest.mark.parametrize("fmt", ["mp3", "webm", "mp4"])
def test_recording_decodes_with_the_recorded_length_and_places_speech_in_time(
    tmp_path: Path, fmt: str, speech: np.ndarray
) -> None:
    start = time.time() * 1000 + 5_000  # in the future, so nothing is written before the frames
    recorder = Recorder(tmp_path / f"meeting.{fmt}", fmt, seal_with=KEY, start_ms=start)
    push_speech(recorder, "alice", speech, start + 1_000)
    push_speech(recorder, "bob", speech, start + 6_000)
    duration = recorder.close(end_ms=start + 10_000)

    assert duration == pytest.approx(10.0, abs=0.001)
    with recorder.open_recording() as recording, av.open(recording) as container:
        stream = container.streams.audio[0]
        assert stream.sample_rate == 48_000
        assert stream.codec_context.channels == 1
    pcm = decode(recorder)
    assert len(pcm) / 48_000 == pytest.approx(10.0, abs=0.06)
    levels = second_levels(pcm)
    assert levels[0] < -60  # nobody spoke in the first second
    assert levels[1] > -40 and levels[6] > -40  # Alice from 1 s, Bob from 6 s
    assert levels[5] < -60 and levels[9] < -60


def test_pause_cuts_the_paused_span_out_of_the_file(tmp_path: Path, speech: np.ndarray) -> None:
    start = time.time() * 1000 + 5_000
    recorder = Recorder(tmp_path / "paused.webm", "webm", seal_with=KEY, start_ms=start)
    push_speech(recorder, "alice", speech, start)
    push_speech(recorder, "bob", speech, start + 6_000)
    recorder.pause(at_ms=start + 4_000)
    recorder.resume(at_ms=start + 6_000)
    duration = recorder.close(end_ms=start + 9_000)

    assert duration == pytest.approx(7.0, abs=0.001)
    pcm = decode(recorder)
    assert len(pcm) / 48_000 == pytest.approx(7.0, abs=0.06)
    levels = second_levels(pcm)
    assert levels[0] > -40
    assert levels[4] > -40  # Bob's speech now starts at 4 s: the pause was cut out


def test_live_recording_covers_open_to_close_minus_the_pause(
    tmp_path: Path, speech: np.ndarray
) -> None:
    recorder = Recorder(tmp_path / "live.mp3", "mp3", seal_with=KEY, latency_ms=200)
    push_speech(recorder, "alice", speech[:48_000], recorder.start_ms)
    time.sleep(1.0)
    paused_at = time.time() * 1000
    recorder.pause(at_ms=paused_at)
    time.sleep(0.5)
    resumed_at = time.time() * 1000
    recorder.resume(at_ms=resumed_at)
    time.sleep(0.3)
    closed_at = time.time() * 1000
    duration = recorder.close(end_ms=closed_at)

    expected_s = ((closed_at - recorder.start_ms) - (resumed_at - paused_at)) / 1000
    assert duration == pytest.approx(expected_s, abs=0.002)
    assert rms_dbfs(decode(recorder)[:48_000]) > -40


def test_audio_the_bot_receives_late_is_recorded_not_written_over_with_silence(
    tmp_path: Path, speech: np.ndarray
) -> None:
    recorder = Recorder(tmp_path / "late.mp3", "mp3", seal_with=KEY, latency_ms=200)
    push_speech(recorder, "alice", speech[:FRAME], recorder.start_ms)  # her first frame, on time
    time.sleep(1.5)  # the scenario: a busy bot receives her next second 1.5 s late, in a burst
    push_speech(recorder, "alice", speech[FRAME:48_000], recorder.start_ms + 20)
    recorder.close()

    recorded = window_dbfs(decode(recorder)[:48_000], 48_000)
    spoken = window_dbfs(speech[:48_000], 48_000)
    assert np.count_nonzero(recorded > -40) >= 0.9 * np.count_nonzero(spoken > -40)


def test_format_none_records_nothing_and_unknown_formats_are_refused(tmp_path: Path) -> None:
    assert "none" in FORMATS
    assert open_recorder(tmp_path / "x", "none", seal_with=KEY) is None
    with pytest.raises(ValueError, match="mp3"):
        open_recorder(tmp_path / "x.ogg", "ogg", seal_with=KEY)


@pytest.mark.parametrize("fmt", ["mp3", "webm", "mp4"])
def test_the_file_on_disk_is_sealed_while_recording_and_after(
    tmp_path: Path, fmt: str, speech: np.ndarray
) -> None:
    path = tmp_path / f"meeting.{fmt}"
    # started a minute ago: the first tick encodes a minute of audio, pages reach the disk at once
    recorder = Recorder(path, fmt, seal_with=KEY, start_ms=time.time() * 1000 - 60_000)
    push_speech(recorder, "alice", speech, recorder.start_ms + 1_000)
    deadline = time.monotonic() + 30
    while path.stat().st_size < SLOT_BYTES and time.monotonic() < deadline:
        time.sleep(0.05)  # until the encoder has sealed a first page to disk
    during = path.read_bytes()
    recorder.close()
    after = path.read_bytes()

    assert len(during) >= SLOT_BYTES
    assert hits_in(during, ()) == [] and hits_in(after, ()) == []
    assert not after.startswith((b"ID3", b"\x1aE\xdf\xa3", b"\xff\xfb", b"\xff\xf3"))
    # The same recording read through the key is the encoder's output, with the marks the
    # check above looks for: a plaintext file on disk would have failed it.
    with recorder.open_recording() as recording:
        plain = recording.read()
    assert hits_in(plain, ()) != []
    assert rms_dbfs(decode(recorder)) > -40
