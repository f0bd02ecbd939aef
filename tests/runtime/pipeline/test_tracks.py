"""Participants' whole tracks kept for the accuracy pass: sealed on disk from the first byte, on
the meeting's clock, and gone when discarded."""

import numpy as np

from sitin.encryption import DataKey
from sitin.runtime.frames import AudioFrame, ParticipantJoined
from sitin.runtime.pipeline.stages import TrackStage
from sitin.runtime.pipeline.tracks import ParticipantTracks
from support.pipeline import feed

T0 = 1_700_000_000_000
FRAME = 960  # 20 ms at 48 kHz


def tone(seconds: float, hz: float = 220.0) -> np.ndarray:
    t = np.arange(round(seconds * 48_000)) / 48_000
    return (0.5 * np.sin(2 * np.pi * hz * t) * 32767).astype(np.int16)


def frames(uuid: str, pcm: np.ndarray, start_ms: float) -> list[AudioFrame]:
    return [
        AudioFrame(uuid, pcm[n : n + FRAME], start_ms + n / 48) for n in range(0, len(pcm), FRAME)
    ]


def person(uuid: str) -> ParticipantJoined:
    return ParticipantJoined(uuid=uuid, name=uuid.title(), is_host=False, timestamp_ms=T0)


def test_a_track_is_sealed_on_disk_and_reads_back_as_the_audio_on_the_meetings_clock(tmp_path):
    tracks = ParticipantTracks(tmp_path / "tracks", DataKey.generate())
    first, second = tone(3.0), tone(2.0, 330.0)
    stream = [
        person("alice"),
        *frames("alice", first, T0),
        # 1 s of lost packets: filled with silence, same span
        *frames("alice", second, T0 + 4_000),
        # muted for 10 s: a new span, placed where it was heard
        *frames("alice", first, T0 + 16_000),
        *frames("stranger", first, T0),  # never joined: nobody to name, not kept
    ]
    feed(TrackStage(tracks, batch_s=0), frames=stream)
    assert tracks.closed
    [track] = tracks.close()
    assert track.person.name == "Alice"
    assert [round(span.start_ms) for span in track.spans] == [T0, T0 + 16_000]
    assert abs(track.spans[0].seconds - 6.0) < 0.05 and abs(track.spans[1].seconds - 3.0) < 0.05

    files = list((tmp_path / "tracks").iterdir())
    assert len(files) == 1
    on_disk = files[0].read_bytes()
    for audio in (first, second):  # no plaintext run of the audio, as 16 kHz or as received
        plain16 = (audio[::3][16_000:16_032]).tobytes()
        assert plain16 not in on_disk and audio[48_000:48_032].tobytes() not in on_disk

    audio = track.read(track.spans[0])
    expected = first[::3].astype(np.float32) / 32768
    delay = 8  # the low-pass filter's: 24 samples at 48 kHz
    heard = audio[100 + delay : len(expected) - 100 + delay]
    assert np.abs(heard - expected[100 : len(expected) - 100]).max() < 0.05
    gap = audio[round(3.05 * 16_000) : round(3.95 * 16_000)]
    assert np.abs(gap).max() < 0.01  # the hole is silence, the second tone comes after it
    assert np.abs(audio[round(4.2 * 16_000) : round(5.8 * 16_000)]).max() > 0.3

    tracks.discard()
    assert list((tmp_path / "tracks").iterdir()) == []
