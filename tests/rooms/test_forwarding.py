"""Rooms with several API processes, on real processes: ``sitin serve --api-workers 2`` serves the
API from two processes sharing the port; two participants whose connections land on different
API processes meet in one room (each sees the other, signaling and chat pass between them, the
rooms page lists them from either process), a refusal's close code comes through, and an API
process killed outright is started again while the room lives on in the server."""

import asyncio
import functools
import json
import os
import re
import signal
import subprocess

import httpx
import pytest
import websockets

from support.process import alive, children, running_server, wait_for

ROOM = "standup"


def _env(data_dir) -> dict[str, str]:
    return {"SITIN_DATA_DIR": str(data_dir), "SITIN_SECRET_KEY": "forwarding-test"}


def serving_pid(server_port: int, client_port: int) -> int | None:
    """The process holding the server's end of the connection from ``client_port``."""
    shown = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{server_port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in shown.splitlines():
        if re.search(rf":{client_port}\s", line + " "):
            found = re.search(r"pid=(\d+)", line)
            return int(found.group(1)) if found else None
    return None


def listening_pids(port: int) -> set[int]:
    """The processes listening on ``port``."""
    shown = subprocess.run(
        ["ss", "-tlnpH", f"( sport = :{port} )"], capture_output=True, text=True, check=True
    ).stdout
    return {int(pid) for pid in re.findall(r"pid=(\d+)", shown)}


def wait_for_api_processes(server, port: int) -> list[int]:
    """The server's two API processes, once both listen."""

    def listening():
        pids = children(server.process.pid)
        return len(pids) == 2 and listening_pids(port) >= set(pids) and pids

    return wait_for(listening, "two listening API processes")


async def join(url: str, port: int, name: str, avoid: int | None = None):
    """A participant's socket (its API process's pid), on another process than ``avoid``."""
    for _attempt in range(40):
        socket = await websockets.connect(f"{url}/rooms/{ROOM}/ws")
        client_port = socket.transport.get_extra_info("sockname")[1]
        pid = await asyncio.to_thread(
            wait_for, functools.partial(serving_pid, port, client_port), "the connection in ss"
        )
        if pid != avoid:
            await socket.send(json.dumps({"type": "join", "name": name}))
            welcome = json.loads(await socket.recv())
            assert welcome["type"] == "welcome", welcome
            return socket, pid, welcome
        await socket.close()
    raise AssertionError("every connection landed on the same API process")


async def next_of(socket, kind: str) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 30))
        if message["type"] == kind:
            return message


async def meet(url: str, port: int) -> tuple[int, int]:
    alice, alice_pid, _ = await join(url, port, "Alice")
    bob, bob_pid, welcome = await join(url, port, "Bob", avoid=alice_pid)
    assert [p["name"] for p in welcome["participants"]] == ["Alice"]
    joined = await next_of(alice, "participant_joined")
    assert joined["participant"]["name"] == "Bob"
    alice_id = welcome["participants"][0]["uuid"]
    # signaling from one process's participant to the other's, and chat
    await bob.send(json.dumps({"type": "offer", "to": alice_id, "sdp": "v=0 offer"}))
    offer = await next_of(alice, "offer")
    assert offer["sdp"] == "v=0 offer" and offer["from"] == joined["participant"]["uuid"]
    await alice.send(json.dumps({"type": "chat", "text": "hello from the other process"}))
    chat = await next_of(bob, "chat")
    assert chat["message"]["text"] == "hello from the other process"
    listing = httpx.get(f"{url}/rooms", timeout=10).text
    assert re.search(rf"{ROOM}</a> <span[^>]*>2 in the room", listing), listing
    await bob.close()
    left = await next_of(alice, "participant_left")
    assert left["uuid"] == joined["participant"]["uuid"]
    await alice.close()
    return alice_pid, bob_pid


def test_participants_on_different_api_processes_meet(tmp_path):
    args = ["--api-workers", "2", "--workers", "0"]
    with running_server(_env(tmp_path / "data"), tmp_path / "serve.log", args) as server:
        port = int(server.url.rsplit(":", 1)[1])
        api = wait_for_api_processes(server, port)
        ws_url = server.url.replace("http://", "ws://")
        pids = asyncio.run(meet(ws_url, port))
        assert set(pids) == set(api)

        async def refused() -> int:
            socket = await websockets.connect(f"{ws_url}/rooms/{ROOM}/ws")
            await socket.send(json.dumps({"type": "join", "name": ""}))
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await socket.recv()
            return socket.close_code

        assert asyncio.run(refused()) == 4400  # the hub's refusal, passed through

        os.kill(api[0], signal.SIGKILL)
        wait_for(lambda: "API process 0 restarted" in server.log(), "its restart line")
        wait_for(
            lambda: api[0] not in (pids := wait_for_api_processes(server, port)) and pids,
            "the killed API process to be started again and listen",
        )
        restarted = children(server.process.pid)
        assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
        asyncio.run(meet(ws_url, port))
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0, server.log()
        assert not any(alive(pid) for pid in restarted)
