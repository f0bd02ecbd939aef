"""The realtime-audio stage: the meeting's audio streamed to the user's websocket server as it
happens (Attendee's protocol, ``core/realtime_audio.py``), and what that server sends back
played into the meeting.

- ``audio`` (mixed): every participant's frames are summed on one timeline (``Mixer``) and sent
  in 20 ms chunks as soon as every participant still sending has delivered its audio for them
  (on a MIX_TICK_S clock when nobody is sending), so a frame held up on its way (the pipeline
  busy, network jitter) still lands in place, waiting at most MAX_WAIT_MS for a participant
  that went quiet. The bot's own voice
  (``BotSpoke``) is never mixed in: only AudioFrames from participants are.
- ``per_participant_audio``: each participant's frames as they arrive, with a sequence of its own
  and the participant's name (``participant_name``, sitin's extra field).
- From the server: ``bot_output`` audio is resampled to meeting audio and emitted as AudioOut,
  in order (the PlaybackStage downstream plays it without gaps); ``clear_bot_output`` is emitted
  as ClearAudioOut (barge-in). An unusable message is reported in the bot's log and ignored
  (the first MAX_REPORTED_BAD of each socket; later ones are counted).

`sequence` counts every chunk of a stream, sent or not: a gap tells the server audio was lost
(while disconnected, or dropped because it read too slowly). Streams of one URL share a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import numpy as np

from sitin.core import realtime_audio as protocol
from sitin.core.audio import MEETING_SAMPLE_RATE
from sitin.outbound import OutboundGuard
from sitin.runtime.audio_out import Resampler
from sitin.runtime.frames import (
    AudioFrame,
    AudioOut,
    ClearAudioOut,
    EndOfStream,
    Frame,
    ParticipantJoined,
    ParticipantLeft,
)
from sitin.runtime.pipeline.base import Stage
from sitin.runtime.pipeline.mixer import Mixer
from sitin.runtime.realtime_socket import RealtimeSocket

MIX_TICK_S = 0.02
MAX_WAIT_MS = 250.0  # the mix waits this long at most for a participant's late audio
MAX_AHEAD_MS = 100.0  # the mix never runs further ahead of the clock than this
MAX_REPORTED_BAD = 20  # unusable messages logged per socket; later ones are only counted

Report = Callable[[str, str], Awaitable[None]]  # (level, message): a bot log entry


def now_ms() -> float:
    return time.time() * 1000


class RealtimeAudioStage(Stage):
    def __init__(
        self,
        bot_id: str,
        streams: list[protocol.StreamSettings],
        *,
        guard: OutboundGuard,
        report: Report,
        reconnect_attempts: int,
        reconnect_delay_s: float,
    ) -> None:
        self.bot_id = bot_id
        self._report = report
        self._mixed = next((s for s in streams if s.kind == "audio"), None)
        self._per_participant = next(
            (s for s in streams if s.kind == "per_participant_audio"), None
        )
        self.sockets: dict[str, RealtimeSocket] = {}  # by URL
        for stream in streams:
            if stream.url in self.sockets:
                continue
            kinds = ", ".join(s.kind for s in streams if s.url == stream.url)
            socket = RealtimeSocket(
                stream.url,
                guard=guard,
                name=f"realtime audio websocket ({kinds})",
                on_message=lambda raw, url=stream.url: self._received(url, raw),
                report=report,
                attempts=reconnect_attempts,
                delay_s=reconnect_delay_s,
            )
            self.sockets[stream.url] = socket
        self._names: dict[str, str] = {}
        self._mixer: Mixer | None = None
        self._mixed_resampler: Resampler | None = None
        self._delivered_ms: dict[str, float] = {}  # uuid -> end of its latest frame
        self.mixed_sequence = 0
        self._voices: dict[str, tuple[Resampler, int]] = {}  # uuid -> (resampler, next sequence)
        self._output: Resampler | None = None
        self._bad: dict[str, int] = {}
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for socket in self.sockets.values():
            socket.start()
        if self._mixed is not None:
            self._mixer = Mixer(now_ms())
            self._mixed_resampler = Resampler(MEETING_SAMPLE_RATE, self._mixed.sample_rate)
            self._ticker = asyncio.create_task(self._tick_mixed(), name="realtime-mix")

    async def process(self, frame: Frame) -> None:
        if isinstance(frame, AudioFrame):
            self._meeting_audio(frame)
        elif isinstance(frame, ParticipantJoined):
            self._names[frame.uuid] = frame.name
        elif isinstance(frame, ParticipantLeft):
            self._delivered_ms.pop(frame.uuid, None)
            if frame.uuid in self._voices:  # a new resampler if they come back; same sequence
                _, sequence = self._voices[frame.uuid]
                self._voices[frame.uuid] = (self._new_voice_resampler(), sequence)
        elif isinstance(frame, EndOfStream):
            await self.stop()
        await self.emit(frame)

    async def stop(self) -> None:
        if self._ticker is not None:
            ticker, self._ticker = self._ticker, None
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        for socket in self.sockets.values():
            await socket.stop()
        for url, count in self._bad.items():
            if count > MAX_REPORTED_BAD:
                unreported = count - MAX_REPORTED_BAD
                await self._report(
                    "warning",
                    f"{self.sockets[url].where}: {unreported} more unusable messages were ignored",
                )

    # ---- the meeting's audio out -----------------------------------------------------------

    def _meeting_audio(self, frame: AudioFrame) -> None:
        if self._mixer is not None:
            self._mixer.add(frame)
            end = frame.timestamp_ms + frame.duration_ms
            self._delivered_ms[frame.uuid] = max(self._delivered_ms.get(frame.uuid, 0.0), end)
            self._send_mixed()  # at once, when this frame completes a chunk for everyone
        stream = self._per_participant
        if stream is None:
            return
        resampler, sequence = self._voices.get(frame.uuid) or (self._new_voice_resampler(), 0)
        self._voices[frame.uuid] = (resampler, sequence + 1)
        pcm = resampler(frame.pcm)
        socket = self.sockets[stream.url]
        if socket.connected.is_set() and len(pcm):
            socket.send(
                protocol.per_participant_message(
                    self.bot_id,
                    pcm.astype("<i2").tobytes(),
                    sample_rate=stream.sample_rate,
                    timestamp_ms=int(frame.timestamp_ms),
                    sequence=sequence,
                    participant_uuid=frame.uuid,
                    participant_name=self._names.get(frame.uuid),
                )
            )

    def _new_voice_resampler(self) -> Resampler:
        assert self._per_participant is not None
        return Resampler(MEETING_SAMPLE_RATE, self._per_participant.sample_rate)

    def mix_horizon_ms(self, now: float) -> float:
        """How far the mix may go: where every participant still sending has delivered to. A
        frame is stamped with its capture time, so the end of one just received lies a little
        ahead of now; stamps further ahead than MAX_AHEAD_MS are not believed."""
        oldest_allowed = now - MAX_WAIT_MS
        sending = [end for end in self._delivered_ms.values() if end >= oldest_allowed]
        if not sending:
            return oldest_allowed
        return min(max(min(sending), oldest_allowed), now + MAX_AHEAD_MS)

    async def _tick_mixed(self) -> None:
        """Sends the mix on a 20 ms clock when no frame arrives to send it sooner (everyone
        quiet or stalled: the horizon moves with the clock)."""
        started = time.monotonic()
        ticks = 0
        while True:
            ticks += 1
            await asyncio.sleep(max(0.0, started + ticks * MIX_TICK_S - time.monotonic()))
            self._send_mixed()

    def _send_mixed(self) -> None:
        """Mix and send what every participant has delivered, once that is a chunk's worth."""
        mixer, stream, resampler = self._mixer, self._mixed, self._mixed_resampler
        assert mixer is not None and stream is not None and resampler is not None
        horizon = self.mix_horizon_ms(now_ms())
        if horizon - mixer.position_ms < MIX_TICK_S * 1000 - 0.5:  # (rounding)
            return
        chunk_ms = mixer.position_ms
        pcm = resampler(mixer.take_until(horizon))
        if len(pcm) == 0:
            return
        sequence, self.mixed_sequence = self.mixed_sequence, self.mixed_sequence + 1
        socket = self.sockets[stream.url]
        if socket.connected.is_set():
            socket.send(
                protocol.mixed_message(
                    self.bot_id,
                    pcm.astype("<i2").tobytes(),
                    sample_rate=stream.sample_rate,
                    timestamp_ms=int(chunk_ms),
                    sequence=sequence,
                )
            )

    # ---- the user's server in --------------------------------------------------------------

    async def _received(self, url: str, raw: str | bytes) -> None:
        try:
            message = protocol.parse_incoming(raw)
        except protocol.ProtocolError as exc:
            await self._bad_message(url, str(exc))
            return
        if isinstance(message, protocol.ClearBotOutput):
            self._output = None
            await self.emit(ClearAudioOut(reason="clear_bot_output"))
            return
        if self._output is None or self._output.rate_in != message.sample_rate:
            held = self._output.flush() if self._output is not None else np.zeros(0, np.int16)
            if len(held):
                await self.emit(AudioOut(held))
            self._output = Resampler(message.sample_rate)
        pcm = self._output(np.frombuffer(message.pcm, dtype="<i2").astype(np.int16))
        if len(pcm):
            await self.emit(AudioOut(pcm))

    async def _bad_message(self, url: str, reason: str) -> None:
        count = self._bad[url] = self._bad.get(url, 0) + 1
        if count > MAX_REPORTED_BAD:
            return
        last = count == MAX_REPORTED_BAD
        note = " (further unusable messages are counted, not logged)" if last else ""
        where = self.sockets[url].where
        await self._report("warning", f"{where}: ignored a message: {reason}{note}")
