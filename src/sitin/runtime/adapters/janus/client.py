"""A client for Janus's WebSocket API (https://janus.conf.meetecho.com/docs/rest.html): one session,
plugin handles on it, requests matched to replies by transaction, everything else routed to the
handle it concerns.

Janus answers a plugin `message` with an `ack` and then an `event` carrying the same
transaction (or at once with `success` for synchronous plugin requests); `request` waits for that
reply. Events without a pending transaction (other people publishing, leaving, the room being
destroyed, media up or down) go to the handle's listener, found by the message's `sender`.
Everything Janus sends is treated as untrusted: messages are size-bounded and read defensively.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

import websockets

from sitin.outbound import OutboundGuard, Purpose, RefusedTarget

log = logging.getLogger(__name__)

SUBPROTOCOL = "janus-protocol"
CONNECT_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 15.0
KEEPALIVE_S = 25.0  # Janus drops sessions silent for session_timeout (60 s by default)
MAX_MESSAGE_BYTES = 1 << 20

Message = dict[str, Any]
Listener = Callable[[Message], None]


class JanusError(Exception):
    """Janus (or one of its plugins) refused a request, or the connection is gone.

    `code` is Janus's numeric error code (plugin codes such as the VideoRoom's 426 "no such
    room" included), None when the connection failed."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"{code}: {reason}" if code is not None else reason)
        self.code = code
        self.reason = reason


class JanusUnreachable(JanusError):
    def __init__(self, reason: str) -> None:
        super().__init__(None, reason)


async def open_api_connection(api_url: str, guard: OutboundGuard) -> websockets.ClientConnection:
    """The one place a Janus adapter opens a network connection: only where the outbound guard
    allows, to the address it checked (the URL's host stays in Host and TLS), no proxy."""
    try:
        target = await guard.resolve_async(api_url, Purpose.MEETING)
    except RefusedTarget as exc:  # never contacted
        raise JanusUnreachable(str(exc)) from None
    try:
        return await websockets.connect(
            api_url,
            subprotocols=[SUBPROTOCOL],
            open_timeout=CONNECT_TIMEOUT_S,
            max_size=MAX_MESSAGE_BYTES,
            proxy=None,
            host=target.address,
            port=target.port,
        )
    except websockets.InvalidStatus as exc:
        raise JanusUnreachable(f"HTTP {exc.response.status_code} from the Janus API") from exc
    except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
        raise JanusUnreachable(f"cannot reach the Janus API ({type(exc).__name__})") from exc


class JanusSession:
    """One Janus session over one WebSocket. Create with `await JanusSession.open(url)`."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self._ws = ws
        self.session_id: int | None = None
        self._pending: dict[str, asyncio.Future[Message]] = {}
        self._answered_by_ack: set[str] = set()  # transactions whose ack is the whole reply
        self._listeners: dict[int, Listener] = {}
        self._reader = asyncio.create_task(self._read())
        self._keepalive: asyncio.Task[None] | None = None
        self.lost = asyncio.Event()  # set when the connection or the session is gone
        self._closing = False

    @classmethod
    async def open(cls, api_url: str, *, guard: OutboundGuard) -> JanusSession:
        session = cls(await open_api_connection(api_url, guard))
        try:
            reply = await session._call({"janus": "create"})
            session.session_id = int(_data(reply)["id"])
        except (JanusError, KeyError, TypeError, ValueError) as exc:
            await session.close()
            if isinstance(exc, JanusError):
                raise
            raise JanusError(None, "Janus did not create a session") from exc
        session._keepalive = asyncio.create_task(session._keep_alive())
        return session

    async def attach(self, plugin: str, listener: Listener) -> JanusHandle:
        reply = await self._call({"janus": "attach", "plugin": plugin})
        try:
            handle_id = int(_data(reply)["id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise JanusError(None, f"Janus did not attach {plugin}") from exc
        self._listeners[handle_id] = listener
        return JanusHandle(self, handle_id)

    async def close(self) -> None:
        """Destroy the session (best effort) and close the connection. Safe to call twice."""
        if self._closing:
            return
        self._closing = True
        if self._keepalive is not None:
            self._keepalive.cancel()
        if self.session_id is not None and not self.lost.is_set():
            with contextlib.suppress(JanusError, TimeoutError):
                await asyncio.wait_for(self._call({"janus": "destroy"}), 3)
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    # ---- wire ----------------------------------------------------------------------------

    async def _call(self, message: Message, *, ack_is_reply: bool = False) -> Message:
        transaction = secrets.token_hex(8)
        message = {**message, "transaction": transaction}
        if self.session_id is not None:
            message["session_id"] = self.session_id
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        if ack_is_reply:
            self._answered_by_ack.add(transaction)
        self._pending[transaction] = future
        try:
            if self.lost.is_set():
                raise JanusUnreachable("the Janus connection is closed")
            try:
                await self._ws.send(json.dumps(message))
            except websockets.ConnectionClosed as exc:
                raise JanusUnreachable("the Janus connection is closed") from exc
            reply = await asyncio.wait_for(future, REQUEST_TIMEOUT_S)
        except TimeoutError as exc:
            raise JanusError(None, f"Janus did not answer {message.get('janus')}") from exc
        finally:
            self._pending.pop(transaction, None)
            self._answered_by_ack.discard(transaction)
        if reply.get("janus") == "error":
            error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
            raise JanusError(_int_or_none(error.get("code")), str(error.get("reason", "error")))
        return reply

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_S)
            try:
                await self._call({"janus": "keepalive"}, ack_is_reply=True)
            except JanusError:
                log.warning("Janus did not acknowledge a keepalive")

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                try:
                    message = json.loads(raw)
                except ValueError:
                    log.warning("Janus sent a message that is not JSON")
                    continue
                if isinstance(message, dict):
                    self._dispatch(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            self._lose("the Janus connection closed")

    def _dispatch(self, message: Message) -> None:
        kind = message.get("janus")
        transaction = str(message.get("transaction"))
        future = self._pending.get(transaction)
        if future is not None and not future.done():
            if kind != "ack" or transaction in self._answered_by_ack:
                future.set_result(message)
                return
            if "plugindata" not in message:
                return  # the ack before an asynchronous plugin reply
        if kind == "timeout":
            self._lose("Janus timed the session out")
            return
        listener = self._listeners.get(_int_or_none(message.get("sender")) or -1)
        if listener is None:
            return
        if kind == "detached":
            self._listeners.pop(int(message["sender"]), None)
        try:
            listener(message)
        except Exception:
            log.exception("a Janus event listener failed on %s", kind)

    def _lose(self, reason: str) -> None:
        if self.lost.is_set():
            return
        self.lost.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(JanusUnreachable(reason))
        if not self._closing:
            log.warning("%s", reason)
            for listener in list(self._listeners.values()):
                with contextlib.suppress(Exception):
                    listener({"janus": "session_lost", "reason": reason})


class JanusHandle:
    """One attached plugin handle."""

    def __init__(self, session: JanusSession, handle_id: int) -> None:
        self.session = session
        self.handle_id = handle_id

    async def request(
        self, body: Message, jsep: Message | None = None
    ) -> tuple[dict[str, Any], Message | None]:
        """Send a plugin message; return the plugin's reply data and the JSEP that came with it.

        Raises JanusError for Janus's errors and for the plugin's (`error_code` in the data)."""
        message: Message = {"janus": "message", "handle_id": self.handle_id, "body": body}
        if jsep is not None:
            message["jsep"] = jsep
        reply = await self.session._call(message)
        plugindata = reply.get("plugindata")
        data = plugindata.get("data") if isinstance(plugindata, dict) else None
        if not isinstance(data, dict):
            raise JanusError(None, "the plugin sent no reply data")
        if "error_code" in data or "error" in data:
            code = _int_or_none(data.get("error_code"))
            raise JanusError(code, str(data.get("error", "plugin error")))
        answer = reply.get("jsep")
        return data, answer if isinstance(answer, dict) else None

    async def detach(self) -> None:
        with contextlib.suppress(JanusError):
            await self.session._call({"janus": "detach", "handle_id": self.handle_id})


def event_data(message: Message) -> dict[str, Any]:
    """The plugin data of an event message ({} when there is none)."""
    plugindata = message.get("plugindata")
    data = plugindata.get("data") if isinstance(plugindata, dict) else None
    return data if isinstance(data, dict) else {}


def _data(reply: Message) -> dict[str, Any]:
    data = reply.get("data")
    if not isinstance(data, dict):
        raise JanusError(None, "Janus sent a reply without data")
    return data


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
