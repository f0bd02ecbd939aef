"""What one participant may cost a room (issue 11 item 3): chat and signaling rates, cut off with
a close reason that names the setting; a reader too slow for its bounded outbox is disconnected.
Real server on 127.0.0.1, raw WebSocket clients."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import websockets
from fastapi import FastAPI

from sitin.rooms.limits import RoomLimits
from sitin.rooms.routes import room_registry
from support.rooms import Client, room_app, run
from support.servers import serve

LIMITS = RoomLimits(send_buffer_bytes=256 * 1024)


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return room_app(LIMITS)


@pytest.fixture(scope="module")
def base_url(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


async def closed_with(client: Client) -> websockets.frames.Close:
    """Read until the server closes the connection; its close frame."""
    assert client.ws is not None
    with pytest.raises(websockets.ConnectionClosed) as closed:
        async with asyncio.timeout(10):
            while True:
                await client.ws.recv()
    assert closed.value.rcvd is not None, "the connection dropped without a close frame"
    return closed.value.rcvd


def test_a_chat_burst_is_cut_off_by_the_rate_limit(app: FastAPI, base_url: str) -> None:
    async def scenario() -> None:
        flooder, alice = Client(base_url, "flood"), Client(base_url, "flood")
        await alice.join("Alice")
        await flooder.join("Flooder")
        assert flooder.ws is not None
        with contextlib.suppress(websockets.ConnectionClosed):  # closed while still sending
            for number in range(2_000):
                await flooder.send({"type": "chat", "text": f"spam {number}"})
        close = await closed_with(flooder)
        assert close.code == 4429
        assert close.reason.startswith("rate_limited: chat")
        assert "SITIN_ROOM_CHAT_BURST" in close.reason

        # Alice saw at most the burst (and what the rate refilled meanwhile), then the leave.
        seen = []
        while True:
            message = await alice.next()
            if message["type"] == "participant_left":
                break
            if message["type"] == "chat":
                seen.append(message)
        assert 1 <= len(seen) <= LIMITS.chat_burst + 5
        assert room_registry(app).rooms["flood"].chat[-1].text == seen[-1]["message"]["text"]
        assert len(room_registry(app).rooms["flood"].chat) == len(seen)
        await alice.close()

    run(scenario())


def test_a_signaling_flood_is_cut_off(base_url: str) -> None:
    async def scenario() -> None:
        flooder, alice = Client(base_url, "signals"), Client(base_url, "signals")
        await alice.join("Alice")
        await flooder.join("Flooder")
        with contextlib.suppress(websockets.ConnectionClosed):
            for _ in range(2_000):
                await flooder.send({"type": "candidate", "to": alice.uuid, "candidate": {}})
        close = await closed_with(flooder)
        assert close.code == 4429 and close.reason.startswith("rate_limited: signaling")
        await alice.close()

    run(scenario())


def test_a_reader_too_slow_for_its_outbox_is_disconnected(base_url: str) -> None:
    async def scenario() -> None:
        sender, sleeper = Client(base_url, "slow"), Client(base_url, "slow")
        await sender.join("Sender")
        # The sleeper reads nothing: its socket's buffers fill (a small receive buffer, or
        # loopback's autotuning holds tens of MB), then its outbox on the server.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.connect(("127.0.0.1", urlsplit(base_url).port))
        sleeper.ws = await websockets.connect(
            sleeper.url, sock=sock, proxy=None, max_queue=1, max_size=2**24
        )
        await sleeper.send({"type": "join", "name": "Sleeper"})
        sleeper.welcome = json.loads(await sleeper.ws.recv())
        sleeper.ws.transport.pause_reading()
        big = "v=0 " + base64.b64encode(os.urandom(150 * 1024)).decode()  # incompressible
        for _ in range(150):  # 30 MB at most (the server's socket holds 4), under the rate
            await sender.send({"type": "offer", "to": sleeper.uuid, "sdp": big})
            left = [m for m in await drain(sender) if m["type"] == "participant_left"]
            if left:
                break
        else:
            raise AssertionError("the slow reader was never disconnected")
        assert left[0]["uuid"] == sleeper.uuid
        sleeper.ws.transport.resume_reading()
        close = await closed_with(sleeper)
        assert close.code == 4503 and "SITIN_ROOM_SEND_BUFFER_BYTES" in close.reason
        await sender.close()

    run(scenario())


async def drain(client: Client) -> list[dict]:
    """Whatever the server has sent the client within 50 ms."""
    assert client.ws is not None
    found = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(0.05):
            while True:
                found.append(json.loads(await client.ws.recv()))
    return found
