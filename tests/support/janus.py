"""Janus for tests: a bot-in-Janus meeting (namespace, Janus, live sitin), Janus's own demo pages
served inside the namespace (`janus_demo_site`, for Chromium), and a listening person in a room.
Janus itself and the namespace are in sitin.testing (shared with the benchmarks)."""

from __future__ import annotations

import asyncio
import functools
import http.server
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from sitin.outbound import OutboundGuard
from sitin.runtime.adapters.janus.client import JanusHandle, JanusSession, event_data
from sitin.testing.janus import VIDEOROOM, WS_PORT, JanusServer
from sitin.testing.netns import NetworkNamespace
from support.live import Live
from support.peers import Heard, heard_since, keep_what_is_heard

DEMOS = Path("/usr/share/janus/demos")
DEMO_PORT = 8080


def require_demos() -> None:
    """Fail (never skip) when Janus's demo pages are not installed."""
    if not (DEMOS / "videoroomtest.html").exists():
        raise RuntimeError("Janus's demo pages are missing: apt-get install -y janus-demos")


@dataclass
class JanusMeeting:
    """What a bot-in-Janus test has: the namespace, the Janus in it, and a live sitin in it too."""

    namespace: NetworkNamespace
    janus: JanusServer
    live: Live
    _rooms: Iterator[int] = field(default_factory=lambda: itertools.count(1001))

    def new_room(self, pin: str | None = None, *, textroom: bool = True) -> int:
        """A VideoRoom and (unless `textroom` is False) a TextRoom with the same (new) id, and
        the pin if given."""
        room = next(self._rooms)
        self.janus.create_room(room, pin=pin, textroom=textroom)
        return room


# ---- Janus's own demo pages -------------------------------------------------------------

SETTINGS_JS = f"""// written by the sitin tests: the Janus API inside the test's namespace
var server = "ws://127.0.0.1:{WS_PORT}";
var iceServers = [];
window.token = null;
window.apisecret = null;
var token = null;
var apisecret = null;
"""


class _DemoHandler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path.split("?")[0] == "/settings.js":
            body = SETTINGS_JS.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@contextmanager
def janus_demo_site() -> Iterator[str]:
    """Serve /usr/share/janus/demos on 127.0.0.1 (call it inside the namespace); yield its URL."""
    require_demos()
    handler = functools.partial(_DemoHandler, directory=str(DEMOS))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", DEMO_PORT), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{DEMO_PORT}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# ---- a person in a Janus room -----------------------------------------------------------


class JanusListener:
    """A person in a Janus VideoRoom who listens: joins as a publisher without media (so the
    bot sees them), subscribes to every other publisher's audio on a peer connection of its own
    and keeps what it hears, per publisher id, as (arrival epoch s, 48 kHz mono int16) frames.

    It is an aiortc peer on sitin's Janus client (tested on its own in test_janus_client.py);
    what it checks is the bot's side: who publishes and what their stream carries."""

    def __init__(self, janus: JanusServer, room: int, name: str, guard: OutboundGuard) -> None:
        self._janus, self._room, self.name, self._guard = janus, room, name, guard
        self.publishers: dict[str, str] = {}  # publisher id -> display name
        self.heard: dict[str, Heard] = {}
        self._session: JanusSession | None = None
        self._private_id: int | None = None
        self._subscriptions: dict[str, tuple[JanusHandle, RTCPeerConnection]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def join(self) -> None:
        self._session = await JanusSession.open(self._janus.ws_url, guard=self._guard)
        handle = await self._session.attach(VIDEOROOM, self._on_event)
        joined, _ = await handle.request(
            {"request": "join", "ptype": "publisher", "room": self._room, "display": self.name}
        )
        self._private_id = joined.get("private_id")
        await self._saw(joined.get("publishers") or [])

    def publisher_named(self, display: str) -> str | None:
        return next((pid for pid, name in self.publishers.items() if name == display), None)

    def heard_from(self, uuid: str, since_s: float = 0.0) -> np.ndarray:
        """Everything heard from publisher `uuid` that arrived after epoch `since_s`."""
        return heard_since(self.heard.get(uuid, []), since_s)

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                await asyncio.sleep(0.02)

    async def leave(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for _, pc in self._subscriptions.values():
            await pc.close()
        if self._session is not None:
            await self._session.close()

    def _on_event(self, message: dict[str, Any]) -> None:
        publishers = event_data(message).get("publishers")
        if isinstance(publishers, list):
            task = asyncio.create_task(self._saw(publishers))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _saw(self, publishers: list[dict[str, Any]]) -> None:
        for publisher in publishers:
            feed = str(publisher["id"])
            self.publishers[feed] = publisher.get("display", "")
            if feed not in self._subscriptions:
                await self._subscribe(publisher["id"])

    async def _subscribe(self, feed: int) -> None:
        assert self._session is not None
        handle = await self._session.attach(VIDEOROOM, lambda message: None)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._subscriptions[str(feed)] = (handle, pc)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                task = asyncio.create_task(self._listen(str(feed), track))
                self._tasks.add(task)

        body = {"request": "join", "ptype": "subscriber", "room": self._room,
                "streams": [{"feed": feed}]}  # fmt: skip
        if self._private_id is not None:
            body["private_id"] = self._private_id
        _, offer = await handle.request(body)
        assert offer is not None, "Janus offered no SDP for the subscription"
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], offer["type"]))
        await pc.setLocalDescription(await pc.createAnswer())
        answer = {"type": "answer", "sdp": pc.localDescription.sdp, "trickle": False}
        await handle.request({"request": "start", "room": self._room}, answer)

    async def _listen(self, feed: str, track: MediaStreamTrack) -> None:
        await keep_what_is_heard(track, self.heard.setdefault(feed, []))
