"""Rooms when ``sitin serve`` runs several API processes: one process holds the rooms (the hub,
``sitin serve`` itself, listening on a private unix socket); the API processes pass each room's
WebSocket through to it and ask it for the rooms in use, so two participants who land on
different API processes still meet in the same room.

This is only a transport: frames go through unchanged, both ways, with the path, the query and
the client's headers; a close on either side is passed on with its code and reason. What a room
is and who may join stay in ``registry`` and ``signaling``, which run in the hub alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import Response
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, unix_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

HUB_UNAVAILABLE = 1013  # "try again later" (RFC 6455 registry): the hub is not answering
# The handshake's own headers are the hub connection's; everything else the client sent goes on.
_NOT_FORWARDED = {
    "host",
    "upgrade",
    "connection",
    "content-length",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-accept",
}


def _hub(request: Request | WebSocket) -> str:
    return request.app.state.rooms_hub


def _forwarded_headers(websocket: WebSocket) -> list[tuple[str, str]]:
    headers = [(k, v) for k, v in websocket.headers.items() if k not in _NOT_FORWARDED]
    if websocket.client is not None:
        headers.append(("x-forwarded-for", websocket.client.host))
    return headers


@router.websocket("/rooms/{name}/ws")
async def forward_room_socket(websocket: WebSocket, name: str) -> None:
    path = websocket.url.path + (f"?{websocket.url.query}" if websocket.url.query else "")
    protocols = websocket.scope.get("subprotocols") or None
    try:
        upstream = await unix_connect(
            _hub(websocket),
            f"ws://rooms-hub{path}",
            additional_headers=_forwarded_headers(websocket),
            subprotocols=protocols,
            max_size=None,  # the client's side is bounded by uvicorn (ws_max_size), the hub too
            compression=None,
            open_timeout=10,
        )
    except (OSError, InvalidHandshake, TimeoutError) as exc:
        log.warning("rooms hub not reachable for room %s: %s", name, exc)
        await websocket.accept()
        await websocket.close(HUB_UNAVAILABLE, "rooms are not available right now")
        return
    async with upstream:
        await websocket.accept(subprotocol=upstream.subprotocol)
        await _relay(websocket, upstream)


async def _relay(client: WebSocket, upstream: ClientConnection) -> None:
    async def client_to_hub() -> None:
        while True:
            message = await client.receive()
            if message["type"] == "websocket.disconnect":
                await upstream.close(message.get("code", 1000), message.get("reason") or "")
                return
            if message.get("text") is not None:
                await upstream.send(message["text"])
            elif message.get("bytes") is not None:
                await upstream.send(message["bytes"])

    async def hub_to_client() -> None:
        try:
            async for frame in upstream:
                if isinstance(frame, str):
                    await client.send_text(frame)
                else:
                    await client.send_bytes(frame)
        except ConnectionClosed:
            pass
        code = upstream.close_code or 1000
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await client.close(code, upstream.close_reason or None)

    tasks = [asyncio.create_task(client_to_hub()), asyncio.create_task(hub_to_client())]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception) and not isinstance(
            result, (ConnectionClosed, WebSocketDisconnect, RuntimeError, asyncio.CancelledError)
        ):
            log.warning("room relay ended with %r", result)
    with contextlib.suppress(Exception):
        await upstream.close()


@router.get("/rooms")
async def forward_rooms_index(request: Request) -> Response:
    """The rooms in use are the hub's: its page, as it answers it."""
    transport = httpx.AsyncHTTPTransport(uds=_hub(request))
    async with httpx.AsyncClient(transport=transport, timeout=10) as hub:
        try:
            answer = await hub.get("http://rooms-hub/rooms", params=request.query_params)
        except httpx.TransportError:
            return Response("The rooms are not available right now.", 503)
    kept = {k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "location")}
    return Response(answer.content, answer.status_code, headers=kept)
