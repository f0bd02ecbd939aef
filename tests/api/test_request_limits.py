"""Request limits and order (issue 11, item 4), against a real uvicorn server on 127.0.0.1: no route
reads a body before the API key is checked; bodies over SITIN_MAX_BODY_BYTES get a 413 naming the
limit while they are still arriving; room WebSocket messages over SITIN_MAX_WS_MESSAGE_BYTES close
the connection."""

import asyncio
import json
import select
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import websockets

from sitin.api.app import create_app, server_options
from sitin.bootstrap import build_context
from sitin.context import AppContext
from support.launcher import StandInLauncher
from support.projects import Project, create_project
from support.servers import serve
from support.settings import ROOM_URL, make_settings

BODY_LIMIT = 64 * 1024
WS_LIMIT = 16 * 1024
CHUNK = b"x" * 16 * 1024


@pytest.fixture
def limited(tmp_path: Path, database_url: str) -> Iterator[tuple[AppContext, str]]:
    settings = make_settings(
        tmp_path, database_url, max_body_bytes=BODY_LIMIT, max_ws_message_bytes=WS_LIMIT
    )
    ctx = build_context(settings, migrate=False, launcher=StandInLauncher())
    try:
        with serve(create_app(ctx), **server_options(settings)) as base_url:
            yield ctx, base_url
    finally:
        ctx.close()


def _connect(base_url: str) -> socket.socket:
    parts = urlsplit(base_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        rest += piece
    return status, json.loads(rest[:length]) if length else {}


def _start_chunked(sock: socket.socket, method: str, path: str, token: str) -> None:
    sock.sendall(
        f"{method} {path} HTTP/1.1\r\nHost: sitin\r\nAuthorization: Token {token}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    )


def _send_chunk(sock: socket.socket, data: bytes) -> None:
    sock.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")


def _body_routes(ctx: AppContext) -> list[tuple[str, str]]:
    """Every API operation that could take a body, from the server's own schema."""
    found = []
    for path, operations in create_app(ctx).openapi()["paths"].items():
        for method in operations:
            if method.upper() in {"POST", "PATCH", "PUT", "DELETE"}:
                concrete = path.replace("{object_id}", "bot_x").replace("{webhook_id}", "wh_x")
                found.append((method.upper(), concrete))
    return found


def test_no_route_reads_a_body_before_the_key_is_checked(limited):
    """A body that never ends: a route that read it before checking the key would never answer."""
    ctx, base_url = limited
    routes = _body_routes(ctx)
    assert ("POST", "/api/v1/bots/bot_x/delete_data") in routes and len(routes) >= 8
    for method, path in routes:
        with _connect(base_url) as sock:
            _start_chunked(sock, method, path, "not-a-key")
            _send_chunk(sock, b'{"meeting_url": "' + CHUNK)  # ... and nothing more, ever
            status, body = _read_response(sock)
        assert status == 401, (method, path, status, body)


def test_a_body_over_the_limit_is_refused_while_it_arrives(limited, database_url):
    ctx, base_url = limited
    project = create_project(ctx, "limits")
    token = project.headers["Authorization"].split()[1]
    with _connect(base_url) as sock:
        _start_chunked(sock, "POST", "/api/v1/bots", token)
        sent = 0
        sock.settimeout(5)
        while sent < 64 * BODY_LIMIT:
            if select.select([sock], [], [], 0)[0]:
                break  # answered
            try:
                _send_chunk(sock, CHUNK)
            except (TimeoutError, BrokenPipeError, ConnectionResetError):
                break  # the server stopped reading
            sent += len(CHUNK)
        sock.settimeout(30)
        status, body = _read_response(sock)
    assert status == 413, body
    assert str(BODY_LIMIT) in body["detail"] and "SITIN_MAX_BODY_BYTES" in body["detail"]
    assert sent < 64 * BODY_LIMIT  # answered long before the body could have been read whole


def test_a_declared_length_over_the_limit_is_refused_before_any_body(limited):
    ctx, base_url = limited
    project = create_project(ctx, "declared")
    with _connect(base_url) as sock:
        sock.sendall(
            f"POST /api/v1/bots HTTP/1.1\r\nHost: sitin\r\n"
            f"Authorization: {project.headers['Authorization']}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {100 * 1024 * 1024}\r\n\r\n".encode()
        )
        status, body = _read_response(sock)  # no byte of the 100 MB was sent
    assert status == 413
    assert str(BODY_LIMIT) in body["detail"]


def test_bodies_under_the_limit_are_served(limited):
    ctx, base_url = limited
    project: Project = create_project(ctx, "fine")

    metadata = {"note": "n" * 900}
    response = httpx.post(
        f"{base_url}/api/v1/bots",
        json={"meeting_url": ROOM_URL, "bot_name": "N" * 100, "metadata": metadata},
        headers=project.headers,
    )
    assert response.status_code == 201, response.text


def test_a_room_message_over_the_limit_closes_the_connection(limited):
    _ctx, base_url = limited
    ws_url = base_url.replace("http://", "ws://") + "/rooms/limits/ws"

    async def scenario() -> None:
        async with websockets.connect(ws_url, max_size=None) as ws:
            await ws.send(json.dumps({"type": "join", "name": "Mallory"}))
            assert json.loads(await ws.recv())["type"] == "welcome"
            # under the limit: an ordinary refusal, the connection stays
            await ws.send(json.dumps({"type": "chat", "text": "c" * 12_000}))
            assert json.loads(await ws.recv())["reason"] == "bad_chat"
            await ws.send(json.dumps({"type": "chat", "text": "c" * (WS_LIMIT + 1)}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

    asyncio.run(scenario())
