"""Bounded load: mixed API calls from several clients at once while a real bot records a real
meeting (a room of the server with an aiortc participant speaking), and a second bot goes through
its whole life (join, leave, end, delete_data) meanwhile. No request fails: no 5xx, no transport
error, no answer the operation never gives. Memory over a longer run: benchmarks/api_load.py."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from sitin.testing.api_load import ApiMix, Tally
from support.live import start_live
from support.peers import TestParticipant
from support.speech import flite_wav, read_pcm_48k

CLIENTS = 3
ROUNDS_PER_CLIENT = 12


@pytest.fixture
def live_on_each_database(tmp_path, database_url):
    with start_live(tmp_path, database_url=database_url) as running:
        yield running


def _client_run(live, bot_id: str, room_url: str, rounds: int, first: int) -> Tally:
    with httpx.Client(base_url=live.base_url, headers=live.http.headers, timeout=30) as http:
        mix = ApiMix(http, bot_id, room_url)
        for index in range(first, first + rounds):
            mix.round(index)
        return mix.tally


def _lifecycle(live, bot_id: str, room_url: str) -> Tally:
    with httpx.Client(base_url=live.base_url, headers=live.http.headers, timeout=30) as http:
        mix = ApiMix(http, bot_id, room_url)
        mix.bot_lifecycle(live.room_url("brief"))
        return mix.tally


def test_mixed_api_calls_while_a_bot_is_in_a_meeting_all_succeed(live_on_each_database, tmp_path):
    asyncio.run(_load(live_on_each_database, tmp_path))


async def _load(live, tmp_path) -> None:
    room_url = live.room_url("standup")
    alice = TestParticipant(live.base_url, "standup", "Alice")
    await alice.join()
    bot = await asyncio.to_thread(live.create_bot, meeting_url=room_url)
    await asyncio.to_thread(live.wait_for_state, bot["id"], "joined_recording")
    await alice.wait_for(alice.connected_to_bot, timeout_s=30)
    speech = read_pcm_48k(flite_wav(tmp_path, "alice", "the load test is running now"))
    alice.say(np.concatenate([speech, np.zeros(48_000, dtype=speech.dtype)]))

    with ThreadPoolExecutor(CLIENTS + 1) as pool:
        runs = [
            pool.submit(_client_run, live, bot["id"], room_url, ROUNDS_PER_CLIENT, i * 1000)
            for i in range(CLIENTS)
        ]
        runs.append(pool.submit(_lifecycle, live, bot["id"], room_url))
        tally = Tally()
        for run in runs:
            tally.merge(await asyncio.wrap_future(run))

    assert not tally.failures, tally.failures
    assert tally.server_errors == 0
    assert tally.answers[("create bot", 201)] == CLIENTS * ROUNDS_PER_CLIENT + 1
    assert tally.answers[("delete_data", 200)] == 1
    # the meeting went on: the bot is still recording and the bot's chat reached the room
    assert live.bot(bot["id"])["state"] == "joined_recording"
    await alice.wait_for(
        lambda: any(m["text"].startswith("load round") for m in alice.chat), timeout_s=30
    )
    await alice.leave()
