"""The bot's voice in a WebRTC meeting: queued audio played in real time, silence when idle.

All peers share one clock: the k-th 20 ms frame is due at `epoch + k * 20 ms`. Each peer's track
sleeps until its next frame is due and asks for frame k; the first track to ask takes it from the
queue (or silence), later ones get the same frame, so every participant hears the bot in step and
no clock task runs beside aiortc's own senders. Consecutive `play()` calls join without a gap;
`clear()` (barge-in) drops what is queued at once.

Each frame is encoded to Opus once for all peers, and only while the bot speaks: the tracks hand
aiortc ready packets, and silence is one packet made up front. (Left to aiortc, every peer's sender
encodes its own copy of every frame, silence included: most of what an idle bot's voice cost.)

While the bot is silent its tracks send almost nothing, as Opus DTX does: a few silent packets
after speech (the peer's decoder fades out on them), then one every 400 ms so the stream stays
alive. A track still looks at every 20 ms tick, so speech starts on the next one; its RTP
timestamps carry the gap, which every receiver's jitter buffer expects from DTX. (Sending silence
50 times a second to every peer, SRTP and a UDP send each, was most of an idle bot's CPU.)
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction

import av
import numpy as np
from aiortc.codecs.opus import OpusEncoder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from sitin.core.audio import MEETING_SAMPLE_RATE
from sitin.runtime.adapters.base import OutputQueueFull

FRAME_SAMPLES = 960  # 20 ms at 48 kHz
FRAME_S = FRAME_SAMPLES / MEETING_SAMPLE_RATE
TIME_BASE = Fraction(1, MEETING_SAMPLE_RATE)
RECENT_FRAMES = 50  # frames kept for peers asking a little later than the first (1 s)
MAX_LAG_FRAMES = 25  # a peer further behind than this (a loop stalled 0.5 s) skips ahead to now
MAX_QUEUED_S = 15 * 60  # a bot may have at most this much audio waiting to be played
SILENT_KEEPALIVE_FRAMES = 20  # while silent, one packet per 400 ms (Opus DTX's rate)
HANGOVER_FRAMES = 5  # silent packets still sent after speech

# Called with each played frame that is not silence and its epoch-ms play time (the recorder
# keeps the bot's voice; nothing else sees it).
PlayedSink = Callable[[np.ndarray, float], None]


class OutboundAudio:
    def __init__(
        self, on_played: PlayedSink | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._on_played = on_played
        self._clock = clock
        self._queue: deque[np.ndarray] = deque()
        self._head_offset = 0  # samples of _queue[0] already played
        self._queued = 0  # samples waiting
        self._tracks: set[_PeerTrack] = set()
        self._epoch = clock()
        self._epoch_ms = time.time() * 1000
        self._recent: deque[np.ndarray | None] = deque(maxlen=RECENT_FRAMES)
        self._next_index = 0  # the index of the next frame to take from the queue
        self._resumed_at = 0  # where the timeline went on after the latest jump ahead
        self.frames_played = 0  # frames with audio in them, since the start
        self._encoded: deque[tuple[int, bytes]] = deque(maxlen=RECENT_FRAMES)
        self._encoder: OpusEncoder | None = None  # the current run of speech's
        self._encoded_until = -1  # the last frame index the encoder was given
        self._silence = _opus_silence()

    @property
    def queued_ms(self) -> float:
        return self._queued * 1000 / MEETING_SAMPLE_RATE

    @property
    def speaking(self) -> bool:
        return self._queued > 0

    def play(self, pcm: np.ndarray) -> None:
        """Queue 48 kHz mono int16 samples after everything already queued."""
        if len(pcm) == 0:
            return
        if self._queued + len(pcm) > MAX_QUEUED_S * MEETING_SAMPLE_RATE:
            raise OutputQueueFull(f"more than {MAX_QUEUED_S} s of audio waiting to be played")
        self._queue.append(pcm.astype(np.int16, copy=False))
        self._queued += len(pcm)

    def clear(self) -> float:
        """Barge-in: forget everything queued; returns how many ms were dropped."""
        dropped_ms = self.queued_ms
        self._queue.clear()
        self._head_offset = self._queued = 0
        return dropped_ms

    def track(self) -> MediaStreamTrack:
        """A new track for one peer connection."""
        track = _PeerTrack(self)
        self._tracks.add(track)
        return track

    async def stop(self) -> None:
        for track in list(self._tracks):
            track.stop()
        self.clear()

    def current_index(self) -> int:
        return int((self._clock() - self._epoch) / FRAME_S)

    def next_index(self, previous: int | None) -> int:
        """The frame a peer whose latest frame was `previous` sends next: the one after it; the
        current one for a new peer or one more than MAX_LAG_FRAMES behind; and never one that
        a jump ahead left silent (a peer still catching up through those would put a gap into
        speech that the peer who jumped plays whole)."""
        now = self.current_index()
        if previous is None or previous < now - MAX_LAG_FRAMES:
            return now
        return max(previous + 1, self._resumed_at)

    def seconds_until(self, index: int) -> float:
        """How long until frame `index` is due (0 once it is)."""
        return max(0.0, self._epoch + index * FRAME_S - self._clock())

    def frame(self, index: int) -> np.ndarray | None:
        """Frame `index` of the shared timeline (None: silence).

        A jump ahead (the first peer, or one that skipped a stall) leaves the skipped frames
        silent instead of playing the queue into them: a stall delays speech, never loses it.
        """
        if index > self._next_index:
            self._recent.extend([None] * min(index - self._next_index, RECENT_FRAMES))
            self._next_index = self._resumed_at = index
        if index == self._next_index:
            frame = self._take_frame()
            if frame is not None:
                self.frames_played += 1
                if self._on_played is not None:
                    self._on_played(frame, self._epoch_ms + index * FRAME_S * 1000)
            self._recent.append(frame)
            self._next_index += 1
        oldest = self._next_index - len(self._recent)
        return self._recent[index - oldest] if index >= oldest else None

    def audible(self, index: int) -> bool:
        """Whether frame `index` carries audio: taken already, or about to be (audio queued)."""
        if index >= self._next_index:
            return self._queued > 0
        oldest = self._next_index - len(self._recent)
        return index >= oldest and self._recent[index - oldest] is not None

    def payload(self, index: int) -> bytes:
        """Frame `index` as an Opus packet, encoded once whichever peer asks first."""
        for encoded_index, payload in reversed(self._encoded):
            if encoded_index == index:
                return payload
            if encoded_index < index:
                break
        samples = self.frame(index)
        if samples is None:
            payload = self._silence
        else:
            if self._encoder is None or index != self._encoded_until + 1:
                # a run of speech starts from silence: a fresh encoder, whose state matches
                # what the peers' decoders heard (a stale one would carry the last run's)
                self._encoder = OpusEncoder()
            self._encoded_until = index
            payloads, _timestamp = self._encoder.encode(_audio_frame(samples, index))
            payload = payloads[0] if payloads else self._silence
        if not self._encoded or index > self._encoded[-1][0]:
            self._encoded.append((index, payload))
        return payload

    def _take_frame(self) -> np.ndarray | None:
        """The next 20 ms of queued audio (zero-padded at the end), or None when idle."""
        if not self._queued:
            return None
        frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        filled = 0
        while filled < FRAME_SAMPLES and self._queue:
            head = self._queue[0]
            take = min(FRAME_SAMPLES - filled, len(head) - self._head_offset)
            frame[filled : filled + take] = head[self._head_offset : self._head_offset + take]
            filled += take
            self._head_offset += take
            if self._head_offset == len(head):
                self._queue.popleft()
                self._head_offset = 0
        self._queued -= filled
        return frame

    def _forget(self, track: _PeerTrack) -> None:
        self._tracks.discard(track)


class OutboundVoice:
    """`MeetingAdapter.play_audio` / `clear_audio` for a WebRTC adapter whose outgoing audio
    tracks all come from its `voice` (put first in the adapter's bases)."""

    voice: OutboundAudio

    def play_audio(self, pcm: np.ndarray) -> None:
        self.voice.play(pcm)

    def clear_audio(self) -> float:
        return self.voice.clear()


class _PeerTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, voice: OutboundAudio) -> None:
        super().__init__()
        self._voice = voice
        self._index: int | None = None
        self._last_sent = -SILENT_KEEPALIVE_FRAMES  # the first frame goes out at once
        self._last_audible = -HANGOVER_FRAMES - 1

    async def recv(self) -> av.Packet:
        voice = self._voice
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            self._index = voice.next_index(self._index)
            await asyncio.sleep(voice.seconds_until(self._index))
            if voice.audible(self._index):
                self._last_audible = self._index
                break
            if (
                self._index - self._last_audible <= HANGOVER_FRAMES
                or self._index - self._last_sent >= SILENT_KEEPALIVE_FRAMES
            ):
                break  # silence worth sending: just after speech, or to keep the stream alive
        self._last_sent = self._index
        packet = av.Packet(voice.payload(self._index))
        packet.pts = self._index * FRAME_SAMPLES
        packet.time_base = TIME_BASE
        return packet

    def stop(self) -> None:
        super().stop()
        self._voice._forget(self)


def _audio_frame(samples: np.ndarray, index: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = MEETING_SAMPLE_RATE
    frame.pts = index * FRAME_SAMPLES
    frame.time_base = TIME_BASE
    return frame


def _opus_silence() -> bytes:
    """The packet the encoder makes of 20 ms of silence (the same bytes from its first frame)."""
    payloads, _timestamp = OpusEncoder().encode(
        _audio_frame(np.zeros(FRAME_SAMPLES, dtype=np.int16), 0)
    )
    return payloads[0]
