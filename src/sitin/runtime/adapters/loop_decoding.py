"""Received audio decoded on the bot's event loop, not in a thread per track.

aiortc decodes every received track in a thread of its own: each 20 ms packet goes to that
thread through a queue, and each decoded frame comes back to the event loop through
`run_coroutine_threadsafe`. For audio the two hand-offs cost far more than the decoding (a
frame of Opus decodes in tens of microseconds): with four participants per bot, the decoder
threads took a quarter of the bot's CPU (benchmarks/bot_density.py, README). So the bot decodes
each packet on the loop that received it and puts the frame straight into the track's queue.
Opus is decoded to mono, the meeting's layout, instead of stereo that is then mixed down.

aiortc has no hook for this. `decode_on_the_loop` replaces the receiver's decoder queue between
the "track" event and the receiver's start (aiortc starts its decoder thread there, with the
queue it then finds), and leaves aiortc's own decoding in place when the receiver is not laid out
as expected (another aiortc version): slower, never broken.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading

import av
from aiortc import RTCPeerConnection, RTCRtpCodecParameters
from aiortc.codecs import get_decoder
from aiortc.codecs.base import Decoder
from aiortc.codecs.opus import OpusDecoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamTrack

log = logging.getLogger(__name__)

# aiortc's private names, read once here: the receiver's decoder queue and thread, the track's queue
_RECEIVER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_RECEIVER_THREAD = "_RTCRtpReceiver__decoder_thread"
_TRACK_QUEUE = "_queue"


def decode_on_the_loop(pc: RTCPeerConnection, track: MediaStreamTrack) -> bool:
    """Have `track`'s packets decoded on the event loop (call it from the "track" event).

    Returns False, and aiortc keeps decoding in its thread, for a non-audio track or a receiver
    that has already started or is not laid out as this aiortc version's.
    """
    receiver = next((t.receiver for t in pc.getTransceivers() if t.receiver.track is track), None)
    frames = getattr(track, _TRACK_QUEUE, None)
    if (
        track.kind != "audio"
        or receiver is None
        or getattr(receiver, _RECEIVER_THREAD, "absent") is not None
        or not isinstance(getattr(receiver, _RECEIVER_QUEUE, None), queue.Queue)
        or not isinstance(frames, asyncio.Queue)
    ):
        log.warning("audio is decoded in aiortc's own thread: its receiver is not as expected")
        return False
    setattr(receiver, _RECEIVER_QUEUE, LoopDecoder(frames))
    return True


class LoopDecoder:
    """Takes the place of a receiver's decoder queue: `put` decodes at once, on the loop.

    aiortc's decoder thread still starts, and waits in `get` until the receiver stops; it then
    ends the track as it always does.
    """

    def __init__(self, frames: asyncio.Queue) -> None:
        self._frames = frames
        self._stopped = threading.Event()
        self._codec_name: str | None = None
        self._decoder: Decoder | None = None
        self.undecodable = 0  # packets dropped because they did not decode

    def put(self, task: tuple[RTCRtpCodecParameters, JitterFrame] | None) -> None:
        if task is None:  # the receiver stops
            self._stopped.set()
            return
        codec, encoded = task
        if self._decoder is None or codec.name != self._codec_name:
            self._decoder = _decoder_for(codec)
            self._codec_name = codec.name
        try:
            frames = self._decoder.decode(encoded)
        except av.FFmpegError as exc:
            # The decoder keeps its state, as aiortc's does; a peer sending garbage is told once.
            self.undecodable += 1
            if self.undecodable == 1:
                log.warning("dropped an undecodable %s packet: %s", codec.name, exc)
            return
        for frame in frames:
            self._frames.put_nowait(frame)

    def get(self) -> None:
        """What aiortc's decoder thread waits on: nothing comes until the receiver stops."""
        self._stopped.wait()


class MonoOpusDecoder(OpusDecoder):
    """aiortc's Opus decoder set to mono output (libopus mixes down as it decodes)."""

    def __init__(self) -> None:
        super().__init__()
        self.codec.layout = "mono"


def _decoder_for(codec: RTCRtpCodecParameters) -> Decoder:
    return MonoOpusDecoder() if codec.name.lower() == "opus" else get_decoder(codec)
