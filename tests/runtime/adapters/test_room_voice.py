"""The bot's voice in a real room: what RoomAdapter plays, an aiortc participant hears — in order,
without gaps between consecutive pieces, silent when idle, and cut off at once by barge-in."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi import FastAPI

from sitin.runtime.adapters.base import AudioFrame, BotSpoke, MeetingEvent
from support.peers import TestParticipant
from support.rooms import room_app, room_bot
from support.servers import serve
from support.speech import rms_dbfs, window_dbfs
from support.voice import quiet_for

RATE = 48_000


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return room_app()


@pytest.fixture(scope="module")
def base_url(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


def tone(seconds: float, hz: float = 440.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * hz * t) * level * 32767).astype(np.int16)


def window_levels(pcm: np.ndarray, window_s: float = 0.02) -> list[float]:
    return window_dbfs(pcm, RATE, window_s).tolist()


async def wait_for(condition, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


def test_participants_hear_the_bot_in_order_without_gaps_and_barge_in_stops_it(
    app: FastAPI, base_url: str
) -> None:
    events: list[MeetingEvent] = []

    async def scenario() -> None:
        alice = TestParticipant(base_url, "voice", "Alice")
        await alice.join()
        bot = room_bot(app, base_url, "voice", "Speaker", events.append)
        await bot.join()
        bob = TestParticipant(base_url, "voice", "Bob")  # calls the bot: the answer side
        await bob.join()
        await wait_for(lambda: len(alice.heard.get(bot.uuid, [])) >= 3)
        await wait_for(lambda: len(bob.heard.get(bot.uuid, [])) >= 3)

        # Idle: the bot sends silence (a packet each 400 ms).
        await asyncio.sleep(0.3)
        assert rms_dbfs(alice.heard_from(bot.uuid)) < -70

        # Two pieces queued back to back play as one: no quiet 20 ms between them.
        started = time.time()
        bot.play_audio(tone(0.6))
        bot.play_audio(tone(0.6, hz=660))
        for person in (alice, bob):
            await wait_for(lambda p=person: heard_then_quiet(p, bot.uuid, started), timeout_s=10)
        for person in (alice, bob):
            heard = person.heard_from(bot.uuid, since_s=started)
            levels = window_levels(heard)
            loud = [i for i, level in enumerate(levels) if level > -30]
            assert loud, f"{person.name} never heard the bot"
            run = levels[loud[0] : loud[-1] + 1]
            assert 1.1 <= len(run) * 0.02 <= 1.35, f"{person.name} heard {len(run) * 0.02} s"
            assert min(run) > -35, f"{person.name} heard a gap inside the bot's speech"
        assert events_of(events, BotSpoke), "the bot's voice is reported for the recording"
        assert all(not isinstance(e, AudioFrame) or e.uuid != bot.uuid for e in events)

        # Barge-in: a long utterance is cut off at once.
        bot.play_audio(tone(5.0))
        await asyncio.sleep(0.5)
        dropped_ms = bot.clear_audio()
        cleared = time.time()
        assert 3800 < dropped_ms < 5000  # most of it (a loaded machine plays less in 0.5 s)
        await wait_for(  # a keepalive sent after the clear has arrived: what came since is all
            lambda: any(t > cleared + 0.5 for t, _ in alice.heard.get(bot.uuid, [])),
            timeout_s=10,
        )
        assert rms_dbfs(alice.heard_from(bot.uuid, since_s=cleared + 0.3)) < -60

        await bob.leave()
        await alice.leave()
        await bot.leave()

    asyncio.run(scenario())


def heard_then_quiet(person: TestParticipant, uuid: str, since_s: float) -> bool:
    """`person` heard something loud from `uuid` and 0.3 s of quiet after it."""
    return quiet_for(person, uuid, 0.3, since_s)


def events_of(events: list[MeetingEvent], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]
