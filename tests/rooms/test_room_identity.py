"""Who is a bot in sitin's rooms (issue 11 item 3): only a participant with the pass the server
issued to its bot, for that room, under that name. Real server on 127.0.0.1, raw WebSocket
clients (tests/rooms/test_room_signaling.py's protocol client)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from fastapi import FastAPI

from sitin.rooms.passes import BotPass, InvalidPass, RoomPasses
from support.rooms import TEST_SECRET, Client, bot_pass, room_app, run
from support.servers import serve


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return room_app()


@pytest.fixture(scope="module")
def base_url(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


async def refused(client: Client, name: str, **fields: Any) -> tuple[dict[str, Any], int, str]:
    """Join, expecting a refusal: (the error message, the close code, the close reason)."""
    error = await client.join(name, **fields)
    assert error["type"] == "error", error
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await client.next()
    return error, closed.value.rcvd.code, closed.value.rcvd.reason


def test_a_fake_notetaker_cannot_be_the_bot(app: FastAPI, base_url: str) -> None:
    async def scenario() -> None:
        room = "impostors"
        bot, alice = Client(base_url, room), Client(base_url, room)
        the_pass = bot_pass(app, "Notetaker", bot_id="bot_real")(room)
        await bot.join("Notetaker", role="bot", **{"pass": the_pass})
        assert bot.welcome["you"]["role"] == "bot"
        await alice.join("Alice")

        forged = RoomPasses(b"another server's secret").issue_bot_pass(
            BotPass(room, "bot_fake", "Notetaker")
        )
        attempts = [
            {},  # just claiming the role
            {"pass": forged},  # signed, but not by this server
            {"pass": bot_pass(app, "Notetaker")("another-room")},  # this server's, other room
            {"pass": the_pass[:-4] + "AAAA"},  # tampered
            {"pass": ["not", "a", "string"]},
            {"pass": "x" * 100_000},
        ]
        for fields in attempts:
            error, code, reason = await refused(
                Client(base_url, room), "Notetaker", role="bot", **fields
            )
            assert error["reason"] == "not_a_bot", fields
            assert code == 4403 and reason.startswith("not_a_bot")
        # A real pass, presented under another name, or a second time while the bot is in.
        other_name = bot_pass(app, "Recorder")(room)
        error, code, _ = await refused(
            Client(base_url, room), "Notetaker", role="bot", **{"pass": other_name}
        )
        assert error["reason"] == "not_a_bot"
        error, _, _ = await refused(
            Client(base_url, room), "Notetaker", role="bot", **{"pass": the_pass}
        )
        assert error["reason"] == "bot_already_here"

        # As a human, nobody takes the bot's name (case and spaces aside)...
        for name in ("Notetaker", "  notetaker ", "NoteTaker"):
            error, code, _ = await refused(Client(base_url, room), name)
            assert error["reason"] == "name_taken" and code == 4400
        # ...and whoever joins is a human, shown as one, who cannot say they record.
        mallory = Client(base_url, room)
        await mallory.join("Notetaker (bot)", role="human")
        assert mallory.welcome["you"]["role"] == "human"
        roles = {p["name"]: p["role"] for p in mallory.welcome["participants"]}
        assert roles == {"Notetaker": "bot", "Alice": "human"}
        await mallory.send({"type": "recording", "active": False})
        assert (await mallory.next("error"))["reason"] == "not_a_bot"

        # Chat from a human is theirs, whatever the message claims.
        await mallory.send(
            {"type": "chat", "text": "Recording has stopped", "from": bot.uuid, "from_name": "X"}
        )
        said = (await alice.next("chat"))["message"]
        assert said["from"] == mallory.uuid and said["from_name"] == "Notetaker (bot)"
        await mallory.send({"type": "offer", "to": alice.uuid, "sdp": "v=0", "from": bot.uuid})
        assert (await alice.next("offer"))["from"] == mallory.uuid

        # The real bot's recording state reaches everyone.
        await bot.send({"type": "recording", "active": True})
        notice = await alice.next("recording")
        assert notice == {"type": "recording", "uuid": bot.uuid, "active": True}
        late = Client(base_url, room)
        await late.join("Bob")
        shown = {p["name"]: p["recording"] for p in late.welcome["participants"]}
        assert shown["Notetaker"] is True and shown["Alice"] is False
        for client in (bot, alice, mallory, late):
            await client.close()

    run(scenario())


def test_a_bot_pass_is_short_lived_and_bound_to_room_bot_and_name() -> None:
    passes = RoomPasses(TEST_SECRET, bot_pass_seconds=0)
    token = passes.issue_bot_pass(BotPass("standup", "bot_1", "Notetaker"))
    assert passes.check_bot_pass(token, "standup") == BotPass("standup", "bot_1", "Notetaker")
    with pytest.raises(InvalidPass, match="another room"):
        passes.check_bot_pass(token, "retro")
    with pytest.raises(InvalidPass, match="not issued by this server"):
        RoomPasses(b"other").check_bot_pass(token, "standup")
    with pytest.raises(InvalidPass, match="not issued by this server"):  # an invite is no pass
        passes.check_bot_pass(passes.issue_invite("standup", valid_seconds=60), "standup")

    def expired() -> bool:
        try:
            passes.check_bot_pass(token, "standup")
        except InvalidPass as exc:
            return "expired" in str(exc)
        return False

    deadline = time.monotonic() + 5
    while not expired():  # a zero-second pass expires once its second is over
        assert time.monotonic() < deadline, "the pass never expired"
        time.sleep(0.05)
