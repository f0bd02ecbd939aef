"""What one participant's connection may cost the server: message size, message rates, and the
memory held for a participant that reads slowly. Plain data and arithmetic, no web code."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RoomLimits:
    """Per participant; the server's settings fill it in (README "Security" lists them)."""

    max_message_bytes: int = 256 * 1024  # SITIN_MAX_WS_MESSAGE_BYTES
    chat_burst: int = 20  # SITIN_ROOM_CHAT_BURST: chat messages at once...
    chat_per_second: float = 2.0  # SITIN_ROOM_CHAT_PER_SECOND: ...then this many a second
    signaling_burst: int = 200  # SITIN_ROOM_SIGNALING_BURST: every other message, at once...
    signaling_per_second: float = 50.0  # SITIN_ROOM_SIGNALING_PER_SECOND: ...then per second
    send_buffer_bytes: int = 4 * 1024 * 1024  # SITIN_ROOM_SEND_BUFFER_BYTES: queued to a reader


class RateLimit:
    """A token bucket: ``burst`` at once, refilled at ``per_second``."""

    def __init__(
        self, burst: int, per_second: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst = burst
        self.per_second = per_second
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def allow(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_second)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class Outbox:
    """Messages waiting to go out to one participant, at most ``limit_bytes`` of them.

    ``put`` refuses a message that would go past the limit and marks the outbox overflowed: the
    reader is too slow, and the connection is closed rather than held in memory without end.
    """

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self.overflowed = asyncio.Event()
        self._messages: deque[str] = deque()
        self._bytes = 0
        self._ready = asyncio.Event()

    def put(self, text: str) -> bool:
        if self.overflowed.is_set():
            return False
        if self._bytes + len(text) > self.limit_bytes:
            self.overflowed.set()
            return False
        self._messages.append(text)
        self._bytes += len(text)
        self._ready.set()
        return True

    async def get(self) -> str:
        while not self._messages:
            self._ready.clear()
            await self._ready.wait()
        text = self._messages.popleft()
        self._bytes -= len(text)
        return text

    def empty(self) -> bool:
        return not self._messages

    @property
    def queued_bytes(self) -> int:
        return self._bytes
