"""The room server's WebSocket protocol, page and registry, spoken to by raw WebSocket clients."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import websockets
from fastapi import FastAPI

from sitin.rooms.registry import MAX_PARTICIPANTS
from support.rooms import Client, bot_pass, room_app, run
from support.servers import serve


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return room_app()


@pytest.fixture(scope="module")
def base_url(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


def test_the_first_human_is_host_and_the_welcome_lists_everyone_else(
    app: FastAPI, base_url: str
) -> None:
    async def scenario() -> None:
        bot, alice, bob = (Client(base_url, "hosting") for _ in range(3))
        await bot.join("Notetaker", role="bot", **{"pass": bot_pass(app, "Notetaker")("hosting")})
        await alice.join("Alice")
        await bob.join("Bob")
        assert bot.welcome["you"]["is_host"] is False
        assert alice.welcome["you"]["is_host"] is True
        assert bob.welcome["you"]["is_host"] is False
        assert [p["name"] for p in bob.welcome["participants"]] == ["Notetaker", "Alice"]
        assert [p["role"] for p in bob.welcome["participants"]] == ["bot", "human"]
        assert len({bot.uuid, alice.uuid, bob.uuid}) == 3
        joined = await alice.next("participant_joined")
        assert joined["participant"]["uuid"] == bob.uuid
        assert joined["participant"]["name"] == "Bob"

        await alice.send({"type": "bye"})
        assert (await bob.next("participant_left"))["uuid"] == alice.uuid
        carol = Client(base_url, "hosting")
        await carol.join("Carol")
        assert carol.welcome["you"]["is_host"] is False  # the host left; nobody replaces them
        for client in (bot, alice, bob, carol):
            await client.close()

    run(scenario())


def test_closing_the_socket_without_bye_is_a_leave(base_url: str) -> None:
    async def scenario() -> None:
        alice, bob = Client(base_url, "abrupt"), Client(base_url, "abrupt")
        await alice.join("Alice")
        await bob.join("Bob")
        await bob.close()
        assert (await alice.next("participant_left"))["uuid"] == bob.uuid
        await alice.close()

    run(scenario())


def test_chat_is_stamped_and_reaches_everyone_including_the_sender(base_url: str) -> None:
    async def scenario() -> None:
        alice, bob = Client(base_url, "chatty"), Client(base_url, "chatty")
        await alice.join("Alice")
        await alice.send({"type": "chat", "text": "before Bob came"})
        await alice.next("chat")
        await bob.join("Bob")
        assert bob.welcome["chat"] == []  # no history from before you joined

        await bob.send({"type": "chat", "text": "hello"})
        for client in (alice, bob):
            message = (await client.next("chat"))["message"]
            assert message["text"] == "hello"
            assert message["from"] == bob.uuid
            assert message["from_name"] == "Bob"
            assert message["to"] is None
            assert isinstance(message["timestamp_ms"], int)
            assert message["timestamp_ms"] > 1_600_000_000_000
            assert message["id"]
        await alice.close()
        await bob.close()

    run(scenario())


def test_private_chat_reaches_only_the_target_and_the_sender(base_url: str) -> None:
    async def scenario() -> None:
        alice, bob, carol = (Client(base_url, "private") for _ in range(3))
        await alice.join("Alice")
        await bob.join("Bob")
        await carol.join("Carol")
        await alice.send({"type": "chat", "text": "just you", "to": carol.uuid})
        await alice.send({"type": "chat", "text": "all of you"})
        assert (await carol.next("chat"))["message"]["to"] == carol.uuid
        assert (await alice.next("chat"))["message"]["text"] == "just you"
        assert (await bob.next("chat"))["message"]["text"] == "all of you"
        for client in (alice, bob, carol):
            await client.close()

    run(scenario())


def test_offers_answers_and_candidates_are_relayed_with_the_sender(base_url: str) -> None:
    async def scenario() -> None:
        alice, bob = Client(base_url, "relay"), Client(base_url, "relay")
        await alice.join("Alice")
        await bob.join("Bob")
        await bob.send({"type": "offer", "to": alice.uuid, "sdp": "v=0 offer"})
        offer = await alice.next("offer")
        assert offer == {"type": "offer", "sdp": "v=0 offer", "from": bob.uuid}
        candidate = {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0"}
        await alice.send({"type": "candidate", "to": bob.uuid, "candidate": candidate})
        assert (await bob.next("candidate"))["candidate"] == candidate

        await bob.send({"type": "answer", "to": "nobody", "sdp": "x"})
        assert (await bob.next("error"))["reason"] == "unknown_participant"
        await alice.close()
        await bob.close()

    run(scenario())


def test_a_full_room_refuses_the_next_participant(base_url: str) -> None:
    async def scenario() -> None:
        inside = [Client(base_url, "crowded") for _ in range(MAX_PARTICIPANTS)]
        for number, client in enumerate(inside):
            await client.join(f"P{number}")
        extra = Client(base_url, "crowded")
        refusal = await extra.join("Late")
        assert refusal["type"] == "error"
        assert refusal["reason"] == "room_full"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await extra.next()
        assert closed.value.rcvd.code == 4409
        for client in inside:
            await client.close()

    run(scenario())


def test_join_must_come_first_with_a_name(base_url: str) -> None:
    async def scenario() -> None:
        client = Client(base_url, "strict")
        client.ws = await websockets.connect(client.url, proxy=None)
        await client.send({"type": "join", "name": "   "})
        assert (await client.next())["reason"] == "bad_name"

    run(scenario())


def test_the_page_and_its_assets_are_served(base_url: str) -> None:
    page = httpx.get(f"{base_url}/rooms/standup?name=Alice")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "/rooms/_static/room.js" in page.text
    script = httpx.get(f"{base_url}/rooms/_static/room.js")
    assert script.status_code == 200
    assert "RTCPeerConnection" in script.text
    assert httpx.get(f"{base_url}/rooms/_static/secrets.txt").status_code == 404
    assert httpx.get(f"{base_url}/rooms/no%20spaces").status_code == 404


def test_an_invalid_room_name_closes_the_socket_as_not_found(base_url: str) -> None:
    async def scenario() -> None:
        client = Client(base_url, "bad%20name")
        client.ws = await websockets.connect(client.url, proxy=None)
        refusal = await client.next()  # refused before any join is read
        assert refusal["reason"] == "room_not_found"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await client.next()
        assert closed.value.rcvd.code == 4404

    run(scenario())
