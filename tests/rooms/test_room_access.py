"""Closed rooms (issue 11 item 3): with SITIN_ROOM_ACCESS=passcode a person needs the passcode or
an invite link; with invite, only an invite for that room. The bot needs neither, only its pass.
Real server on 127.0.0.1, raw WebSocket clients."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import websockets

from sitin.config import InvalidConfiguration, load_settings
from sitin.rooms.passes import RoomPasses
from sitin.rooms.registry import RoomAccess
from support.rooms import Client, bot_pass, room_app, run
from support.servers import serve


async def outcome(base_url: str, room: str, name: str, **fields: Any) -> tuple[str, int | None]:
    """("welcome", None) or (the refusal's reason, the close code)."""
    client = Client(base_url, room)
    answer = await client.join(name, **fields)
    if answer["type"] == "welcome":
        await client.close()
        return "welcome", None
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await client.next()
    return answer["reason"], closed.value.rcvd.code


def test_a_passcode_room_refuses_without_it() -> None:
    app = room_app(access=RoomAccess(mode="passcode", passcode="open sesame"))
    passes: RoomPasses = app.state.room_registry.passes
    with serve(app) as base_url:

        async def scenario() -> None:
            assert await outcome(base_url, "board", "Eve") == ("passcode_required", 4401)
            assert await outcome(base_url, "board", "Eve", passcode="guess") == (
                "wrong_passcode",
                4401,
            )
            assert await outcome(base_url, "board", "Eve", passcode=["x"]) == (
                "passcode_required",
                4401,
            )
            assert await outcome(base_url, "board", "Ann", passcode="open sesame") == (
                "welcome",
                None,
            )
            invite = passes.issue_invite("board", valid_seconds=600)
            assert await outcome(base_url, "board", "Ben", invite=invite) == ("welcome", None)
            other = passes.issue_invite("other", valid_seconds=600)
            assert (await outcome(base_url, "board", "Eve", invite=other))[0] == "invite_refused"
            # the bot gets in with its pass alone
            the_pass = bot_pass(app, "Notetaker")("board")
            assert await outcome(
                base_url, "board", "Notetaker", role="bot", **{"pass": the_pass}
            ) == (
                "welcome",
                None,
            )

        run(scenario())


def test_an_invite_room_needs_an_invite_for_that_room() -> None:
    app = room_app(access=RoomAccess(mode="invite"))
    passes: RoomPasses = app.state.room_registry.passes
    with serve(app) as base_url:

        async def scenario() -> None:
            assert await outcome(base_url, "retro", "Eve") == ("invite_required", 4401)
            assert (await outcome(base_url, "retro", "Eve", passcode="anything"))[0] == (
                "invite_required"
            )
            forged = RoomPasses(b"elsewhere").issue_invite("retro", valid_seconds=600)
            assert (await outcome(base_url, "retro", "Eve", invite=forged))[0] == "invite_refused"
            invite = passes.issue_invite("retro", valid_seconds=600)
            assert await outcome(base_url, "retro", "Ann", invite=invite) == ("welcome", None)

        run(scenario())


def test_a_passcode_deployment_without_a_passcode_does_not_start(tmp_path) -> None:
    with pytest.raises(InvalidConfiguration, match="SITIN_ROOM_PASSCODE"):
        load_settings(data_dir=tmp_path, room_access="passcode")
    settings = load_settings(data_dir=tmp_path)
    assert settings.room_rules == RoomAccess(mode="open")


def test_sitin_rooms_invite_prints_a_link_this_server_lets_in(tmp_path) -> None:
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "SITIN_DATA_DIR": str(data_dir),
        "SITIN_PUBLIC_URL": "https://meet.example",
    }
    subprocess.run([sys.executable, "-m", "sitin", "migrate"], env=env, timeout=120, check=True)
    result = subprocess.run(
        [sys.executable, "-m", "sitin", "rooms", "invite", "board", "--hours", "2"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    link = urlsplit(result.stdout.strip())
    assert (link.scheme, link.netloc, link.path) == ("https", "meet.example", "/rooms/board")
    invite = parse_qs(link.query)["invite"][0]
    passes = RoomPasses(load_settings(data_dir=data_dir).resolved_secret_key)
    passes.check_invite(invite, "board")  # this server's, for that room
    bad = subprocess.run(
        [sys.executable, "-m", "sitin", "rooms", "invite", "../x"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "ROOM" in bad.stderr
