"""The track clock of the WebRTC adapters on its own: which capture time each received frame gets.

A process too busy to keep up receives frames later and later; that must not re-anchor the clock
(it cut holes into speech under load, and split one sentence into several utterances). A sender
whose RTP time really lags (a steady delay) must."""

from __future__ import annotations

from sitin.runtime.adapters.media import (
    LATE_LIMIT_MS,
    LATE_PERSIST_MS,
    RESYNC_MS,
    TrackClock,
)

FRAME = 960  # samples: 20 ms at 48 kHz
FRAME_MS = 20.0
T0 = 1_700_000_000_000.0


class FakeTime:
    def __init__(self) -> None:
        self.ms = T0

    def __call__(self) -> float:
        return self.ms


def receive(clock: TrackClock, time: FakeTime, arrivals_ms: list[float]) -> list[float]:
    """Stamp frames 0, 1, 2, … (consecutive RTP time) arriving at the given times."""
    stamps = []
    for index, arrival in enumerate(arrivals_ms):
        time.ms = arrival + FRAME_MS  # a frame arrives once its last sample was captured
        stamps.append(clock.stamp(index * FRAME, FRAME))
    return stamps


def rtp_spaced(stamps: list[float]) -> bool:
    return all(abs(b - a - FRAME_MS) < 1e-6 for a, b in zip(stamps, stamps[1:], strict=False))


def test_jitter_keeps_rtp_time():
    time = FakeTime()
    jitter = [0, 15, -8, 30, 2, 40, -5]
    arrivals = [T0 + i * FRAME_MS + jitter[i % len(jitter)] for i in range(200)]
    stamps = receive(TrackClock(time), time, arrivals)
    assert stamps[0] == T0 and rtp_spaced(stamps)


def test_a_growing_backlog_keeps_rtp_time_and_cuts_no_hole():
    """The receiving process runs at half speed for 4 s (frames ever later), then catches up in a
    burst: every frame keeps its place in RTP time."""
    time = FakeTime()
    arrivals = [T0 + i * FRAME_MS for i in range(50)]
    slow_start = arrivals[-1]
    arrivals += [slow_start + (i + 1) * 2 * FRAME_MS for i in range(100)]  # 2 s of audio in 4 s
    burst = arrivals[-1]
    arrivals += [burst + i * 0.2 for i in range(100)]  # the backlog drains
    arrivals += [T0 + i * FRAME_MS for i in range(250, 400)]  # on time again
    stamps = receive(TrackClock(time), time, arrivals)
    assert max(a - s for a, s in zip(arrivals, stamps, strict=True)) > LATE_PERSIST_MS
    assert rtp_spaced(stamps)


def test_a_steady_delay_re_anchors_after_it_persists():
    """The sender paused 2 s without advancing RTP time: from then on every frame arrives 2 s
    later than RTP time says. Once that delay held steady for LATE_PERSIST_MS, the clock
    follows the arrivals again."""
    time = FakeTime()
    arrivals = [T0 + i * FRAME_MS for i in range(50)]
    arrivals += [T0 + 2000 + i * FRAME_MS for i in range(50, 300)]
    stamps = receive(TrackClock(time), time, arrivals)
    kept = [i for i in range(50, 300) if abs(stamps[i] - (T0 + i * FRAME_MS)) < 1e-6]
    moved = [i for i in range(50, 300) if abs(stamps[i] - arrivals[i]) < 1e-6]
    assert kept == list(range(50, kept[-1] + 1)) and moved == list(range(kept[-1] + 1, 300))
    held_ms = arrivals[moved[0]] - arrivals[50]
    assert LATE_PERSIST_MS <= held_ms < LATE_PERSIST_MS + 2 * FRAME_MS
    assert rtp_spaced(stamps[moved[0] :])


def test_a_slow_sender_clock_is_followed():
    """RTP time runs 2 % slow: the drift is re-anchored each time it passes RESYNC_MS (it stays
    steady within the window), so stamps never lag arrivals by much more than that."""
    time = FakeTime()
    arrivals = [T0 + i * FRAME_MS * 1.02 for i in range(3000)]  # 1 minute
    stamps = receive(TrackClock(time), time, arrivals)
    lag = [a - s for a, s in zip(arrivals, stamps, strict=True)]
    assert max(lag) < RESYNC_MS + LATE_PERSIST_MS * 0.02 + 1


def test_frames_ahead_of_their_arrival_re_anchor_at_once():
    time = FakeTime()
    clock = TrackClock(time)
    assert receive(clock, time, [T0, T0 + FRAME_MS]) == [T0, T0 + FRAME_MS]
    time.ms = T0 + 3 * FRAME_MS  # RTP time jumped 10 s ahead (a sender restart)
    jumped = clock.stamp(2 * FRAME + 10 * 48_000, FRAME)
    assert jumped == T0 + 2 * FRAME_MS


def test_a_delay_beyond_the_limit_re_anchors_at_once():
    time = FakeTime()
    clock = TrackClock(time)
    receive(clock, time, [T0])
    time.ms = T0 + FRAME_MS + LATE_LIMIT_MS + 500
    assert clock.stamp(FRAME, FRAME) == time.ms - FRAME_MS
