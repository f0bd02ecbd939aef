"""A room server of its own for tests (the rooms router and a registry under a test secret), and
the pass its bots get, as the bot runtime issues it; a bare protocol client."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import TYPE_CHECKING, Any

import websockets
from fastapi import FastAPI

from sitin.rooms.limits import RoomLimits
from sitin.rooms.passes import BotPass, RoomPasses
from sitin.rooms.registry import RoomAccess, RoomRegistry
from sitin.rooms.routes import router
from sitin.runtime.adapters.base import EventSink, RoomPass
from support.settings import LOOPBACK_GUARD

if TYPE_CHECKING:
    from sitin.runtime.adapters.room import RoomAdapter

TEST_SECRET = b"test-secret"  # what support.settings.make_settings configures as well


def room_app(
    limits: RoomLimits | None = None,
    access: RoomAccess | None = None,
    registry: RoomRegistry | None = None,
) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    app.state.room_registry = registry or RoomRegistry(RoomPasses(TEST_SECRET), limits, access)
    return app


def bot_pass(app: FastAPI, name: str, bot_id: str | None = None) -> RoomPass:
    """The pass a bot called ``name`` gets from the server serving ``app``'s rooms."""
    passes: RoomPasses = app.state.room_registry.passes
    bot_id = bot_id or str(uuid.uuid4())
    return lambda room: passes.issue_bot_pass(BotPass(room=room, bot_id=bot_id, name=name))


class Client:
    """A bare protocol client: join, send, and read messages of a given type."""

    def __init__(self, base_url: str, room: str) -> None:
        self.url = base_url.replace("http://", "ws://") + f"/rooms/{room}/ws"
        self.ws: websockets.ClientConnection | None = None
        self.welcome: dict[str, Any] = {}

    async def join(self, name: str, role: str | None = None, **fields: Any) -> dict[str, Any]:
        self.ws = await websockets.connect(self.url, proxy=None)
        await self.send(
            {"type": "join", "name": name, **({"role": role} if role else {}), **fields}
        )
        self.welcome = await self.next()
        return self.welcome

    @property
    def uuid(self) -> str:
        return self.welcome["you"]["uuid"]

    async def send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(message))

    async def next(self, kind: str | None = None) -> dict[str, Any]:
        """The next message (of `kind`, skipping others), waiting at most 5 s."""
        assert self.ws is not None
        async with asyncio.timeout(5):
            while True:
                message = json.loads(await self.ws.recv())
                if kind is None or message["type"] == kind:
                    return message

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def room_bot(app: FastAPI, base_url: str, room: str, name: str, sink: EventSink) -> RoomAdapter:
    """The bot's room adapter for ``room`` on the server at ``base_url`` (serving ``app``), with
    the pass that server issues it (rooms on 127.0.0.1 are listed, as an operator would)."""
    from sitin.runtime.adapters.room import RoomAdapter  # aiortc: only where a bot joins

    return RoomAdapter(
        f"{base_url}/rooms/{room}",
        name,
        sink,
        guard=LOOPBACK_GUARD,
        room_pass=bot_pass(app, name),
    )
