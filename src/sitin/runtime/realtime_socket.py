"""One realtime-audio websocket from a bot to the user's server: connect through the outbound
guard (checked again on every connect), send the bot's messages, hand over what arrives, and
reconnect when the connection fails or drops.

Like Attendee, a lost or failed connection is retried (`attempts` times, `delay_s` apart; the count
starts again once a connection opened). Unlike Attendee, every problem is reported (`report`: a
bot log entry, and so a ``bot_logs.update`` webhook): each failed attempt and why, a lost
connection, the reconnect, giving up. URLs are reported without path or query (they may carry a
token).

Audio is realtime and never buffered without bound: while disconnected nothing is queued, and a
server that reads more slowly than the bot sends loses the oldest messages waiting
(`MAX_OUTBOX` of them, about 2 s of both streams), with a log entry when dropping starts and how
many were lost once it caught up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection

from sitin.core.realtime_audio import MAX_MESSAGE_BYTES
from sitin.outbound import OutboundGuard, Purpose, RefusedTarget

log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 2.0
MAX_OUTBOX = 200  # messages waiting to be sent; beyond this the oldest are dropped
RECEIVE_QUEUE = 16  # incoming messages websockets buffers before it stops reading the socket

Report = Callable[[str, str], Awaitable[None]]  # (level, message): a bot log entry
MessageHandler = Callable[[str | bytes], Awaitable[None]]


def describe(url: str) -> str:
    """The URL without credentials, path or query (which may hold a token): safe for the log."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


class RealtimeSocket:
    def __init__(
        self,
        url: str,
        *,
        guard: OutboundGuard,
        name: str,
        on_message: MessageHandler,
        report: Report,
        attempts: int,
        delay_s: float,
        max_outbox: int = MAX_OUTBOX,
    ) -> None:
        self.url = url
        self.name = name  # how the bot log names it, e.g. "realtime audio websocket (audio)"
        self._guard = guard
        self._on_message = on_message
        self._report = report
        self._attempts = attempts
        self._delay_s = delay_s
        self._outbox: deque[str] = deque()
        self._max_outbox = max_outbox
        self._waiting = asyncio.Event()  # the outbox has something
        self._task: asyncio.Task[None] | None = None
        self._reports: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()
        self.connections = 0  # connections opened so far
        self.sent = 0
        self.dropped = 0  # messages dropped because the server read too slowly
        self._dropping = 0  # dropped in the current run of drops (0: not dropping)
        self.gave_up = False

    @property
    def where(self) -> str:
        return f"{self.name} to {describe(self.url)}"

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._reports:
            await asyncio.gather(*self._reports, return_exceptions=True)

    def send(self, message: str) -> bool:
        """Queue a message to send; False (and nothing queued) while not connected. When the
        server reads too slowly, the oldest waiting message makes room."""
        if not self.connected.is_set():
            return False
        if len(self._outbox) >= self._max_outbox:
            self._outbox.popleft()
            self.dropped += 1
            self._dropping += 1
            if self._dropping == 1:
                self._report_later(
                    "warning",
                    f"{self.where}: the server reads more slowly than audio arrives; dropping "
                    f"the oldest unsent messages (at most {self._max_outbox} wait)",
                )
        self._outbox.append(message)
        self._waiting.set()
        return True

    # ---- the connection --------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                ended = await self._connect_and_serve()
            except RefusedTarget as exc:
                failure = str(exc)
            except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
                failure = _failure(exc)
            else:
                failures = 0
                await self._report(
                    "warning", f"{self.where}: {ended}; reconnecting in {self._delay_s:g} s"
                )
                await asyncio.sleep(self._delay_s)
                continue
            failures += 1
            if failures > self._attempts:
                self.gave_up = True
                await self._report(
                    "error",
                    f"{self.where}: connection failed ({failure}); gave up after "
                    f"{self._attempts} retries",
                )
                return
            await self._report(
                "error",
                f"{self.where}: connection failed ({failure}); retry {failures} of "
                f"{self._attempts} in {self._delay_s:g} s",
            )
            await asyncio.sleep(self._delay_s)

    async def _connect_and_serve(self) -> str:
        """Serve one connection until it ends; why it ended. Raises when it cannot open."""
        target = await self._guard.resolve_async(self.url, Purpose.REALTIME)
        async with websockets.connect(
            self.url,
            host=target.address,  # the address the guard checked, not a second DNS answer
            port=target.port,
            proxy=None,
            open_timeout=OPEN_TIMEOUT_S,
            close_timeout=CLOSE_TIMEOUT_S,
            max_size=MAX_MESSAGE_BYTES,
            max_queue=RECEIVE_QUEUE,
            compression=None,
        ) as ws:
            self.connections += 1
            again = " again" if self.connections > 1 else ""
            await self._report("info", f"{self.where}: connected{again}")
            self._outbox.clear()
            self._dropping = 0
            self.connected.set()
            sender = asyncio.create_task(self._send_all(ws))
            try:
                await self._receive_all(ws)
            finally:
                self.connected.clear()
                self._outbox.clear()
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                    await sender
            return _closed_reason(ws)

    async def _send_all(self, ws: ClientConnection) -> None:
        while True:
            await self._waiting.wait()
            while self._outbox:
                await ws.send(self._outbox.popleft())
                self.sent += 1
            self._waiting.clear()
            if self._dropping:
                dropped, self._dropping = self._dropping, 0
                await self._report(
                    "warning", f"{self.where}: caught up; {dropped} messages were dropped"
                )

    async def _receive_all(self, ws: ClientConnection) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                try:
                    await self._on_message(raw)
                except Exception:  # a bug handling one message must not drop the connection
                    log.exception("%s: could not handle a message", self.name)

    def _report_later(self, level: str, message: str) -> None:
        task = asyncio.create_task(self._report(level, message))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)


def _failure(exc: BaseException) -> str:
    if isinstance(exc, websockets.InvalidStatus):
        return f"the server answered HTTP {exc.response.status_code} instead of a websocket"
    if isinstance(exc, TimeoutError):
        return f"no connection within {OPEN_TIMEOUT_S:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc}"[:300]


def _closed_reason(ws: ClientConnection) -> str:
    close = ws.protocol.close_rcvd or ws.protocol.close_sent
    if close is None:
        return "the connection was lost"
    if close.code == 1009:
        return f"closed: a message was over the {MAX_MESSAGE_BYTES}-byte limit"
    detail = f": {close.reason[:100]}" if close.reason else ""
    return f"the server closed the connection (code {close.code}{detail})"
