"""The whole product from the outside: a real `sitin serve` process (with its embedded worker), two
people in headless Chromium talking in turns and chatting in a room, a bot sent in through the API
that records, captures participants and chat, transcribes each speaker, and leaves on request."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.async_api import Browser, Page, async_playwright

from sitin.core.timefmt import parse_wire
from support.browser import launch
from support.process import SITIN, ServerProcess, running_server
from support.speech import decode_mono, microphone_wav, word_error_rate

CHROMIUM = "/usr/bin/chromium"
ROOM = "retro"
ALICE_SAYS = "the design review went well and the team is happy"
BOB_SAYS = "we should move the weekly meeting to the afternoon"
ALICE_CHAT = "notes are in the shared folder"
# Each fake microphone plays (and would loop) its file from the moment its page joins: Alice
# speaks first, Bob (who joins a moment later) well after she has finished, then both are quiet.
ALICE_STARTS_S = 1.5
BOB_STARTS_S = 7.0
MICROPHONE_FILE_S = 40.0  # longer than the meeting, so nobody repeats themselves
SERVER_ENV = {
    "SITIN_SECRET_KEY": "browser-e2e-secret",
    "SITIN_HEARTBEAT_INTERVAL": "0.5",
    "SITIN_HEARTBEAT_TIMEOUT": "5",
    "SITIN_SCHEDULER_INTERVAL": "0.2",
    "SITIN_REAPER_INTERVAL": "0.5",
    "SITIN_JOURNAL_INTERVAL": "1",
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs system Chromium"),
    pytest.mark.skipif(shutil.which("flite") is None, reason="needs flite"),
]


# ---- fixtures: speech files, the server, an API client ----------------------------------


@pytest.fixture
def server_env(tmp_path: Path) -> dict[str, str]:
    return {**SERVER_ENV, "SITIN_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def server(server_env: dict[str, str], tmp_path: Path) -> Iterator[ServerProcess]:
    with running_server(server_env, tmp_path / "serve.log") as process:
        yield process


@pytest.fixture
def api(server: ServerProcess, server_env: dict[str, str]) -> Iterator[httpx.Client]:
    """A client authenticated with a key made by the CLI for the first-start 'default' project."""
    made = subprocess.run(
        [str(SITIN), "keys", "create", "--project", "default"],
        env={**os.environ, **server_env},
        capture_output=True,
        text=True,
        check=True,
    )
    key = made.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Token {key}"}
    with server.client(headers=headers, timeout=30) as client:
        yield client


def wait_for(condition, what: str, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def bot_in_state(api: httpx.Client, bot_id: str, state: str, timeout_s: float = 30.0) -> dict:
    def reached():
        bot = api.get(f"/api/v1/bots/{bot_id}").json()
        return bot if bot["state"] == state else None

    return wait_for(reached, f"bot {state}", timeout_s)


def results(api: httpx.Client, bot_id: str, what: str) -> list[dict]:
    response = api.get(f"/api/v1/bots/{bot_id}/{what}")
    assert response.status_code == 200, response.text
    body = response.json()
    return body["results"] if isinstance(body, dict) else body


# ---- measuring ---------------------------------------------------------------------------


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio)))) if len(audio) else 0.0


def epoch_ms(wire_time: str) -> float:
    return parse_wire(wire_time).timestamp() * 1000


# ---- the browsers ------------------------------------------------------------------------


async def join_room(browser: Browser, base_url: str, name: str) -> tuple[Page, str]:
    """Open the room link as `name`; return the page and the uuid the page was given."""
    page = await browser.new_page()
    await page.goto(f"{base_url}/rooms/{ROOM}?name={name}")
    await page.wait_for_selector("body[data-state=joined]")
    me = page.locator("#participants li", has=page.locator(".tag", has_text="you"))
    return page, await me.get_attribute("data-uuid")


async def tags_of(page: Page, uuid: str) -> list[str]:
    return await page.locator(f"#participants li[data-uuid='{uuid}'] .tag").all_inner_texts()


async def meeting(api: httpx.Client, base_url: str, tmp_path: Path) -> dict:
    alice_wav = microphone_wav(tmp_path, "alice", ALICE_SAYS, ALICE_STARTS_S, MICROPHONE_FILE_S)
    bob_wav = microphone_wav(tmp_path, "bob", BOB_SAYS, BOB_STARTS_S, MICROPHONE_FILE_S)
    seen: dict = {}
    async with async_playwright() as playwright:
        alice_browser, bob_browser = await asyncio.gather(
            launch(playwright, alice_wav), launch(playwright, bob_wav)
        )
        try:
            # The bot is in the room first, so it hears everything from each person's first word.
            created = await asyncio.to_thread(
                api.post,
                "/api/v1/bots",
                json={
                    "meeting_url": f"{base_url}/rooms/{ROOM}",
                    "bot_name": "Notetaker",
                    "recording_settings": {"format": "mp3"},
                },
            )
            assert created.status_code == 201, created.text
            bot_id = seen["bot_id"] = created.json()["id"]
            await asyncio.to_thread(bot_in_state, api, bot_id, "joined_recording")
            seen["joined_at"] = time.time()

            alice, seen["alice_uuid"] = await join_room(alice_browser, base_url, "Alice")
            bob, seen["bob_uuid"] = await join_room(bob_browser, base_url, "Bob")
            await bob.wait_for_selector(f"#participants li[data-uuid='{seen['alice_uuid']}']")
            seen["alice_tags_on_bob"] = await tags_of(bob, seen["alice_uuid"])
            seen["bob_tags_on_alice"] = await tags_of(alice, seen["bob_uuid"])

            def both_transcribed():
                utterances = results(api, bot_id, "transcript")
                speakers = {u["speaker_name"] for u in utterances}
                return utterances if {"Alice", "Bob"} <= speakers else None

            await asyncio.to_thread(wait_for, both_transcribed, "both speakers transcribed", 40)

            await alice.fill("#chat-text", ALICE_CHAT)
            await alice.click("#chat-send")
            await asyncio.to_thread(
                wait_for, lambda: results(api, bot_id, "chat_messages"), "chat captured"
            )

            # The pages show that the bot records, and stop showing it while it is paused.
            notice = alice.locator("#recording-notice")
            await notice.wait_for(state="visible")
            seen["recording_notice"] = await notice.inner_text()
            for action, state in (("pause_recording", "hidden"), ("resume_recording", "visible")):
                answer = await asyncio.to_thread(api.post, f"/api/v1/bots/{bot_id}/{action}")
                assert answer.status_code == 200, answer.text
                await notice.wait_for(state=state)
                await bob.locator("#recording-notice").wait_for(state=state)

            await bob.click("#leave-button")  # Bob leaves while the bot is still there
            bob_left = seen["bob_uuid"]

            def bob_leave_seen():
                events = results(api, bot_id, "participant_events")
                return any(
                    e["event_type"] == "leave" and e["participant_uuid"] == bob_left for e in events
                )

            await asyncio.to_thread(wait_for, bob_leave_seen, "Bob's leave", 10)
            seen["bob_left_at"] = time.time()

            left = await asyncio.to_thread(api.post, f"/api/v1/bots/{bot_id}/leave")
            assert left.status_code == 200, left.text
            assert left.json()["state"] == "leaving"
            seen["bot"] = await asyncio.to_thread(bot_in_state, api, bot_id, "ended")
            seen["ended_at"] = time.time()
        finally:
            await asyncio.gather(alice_browser.close(), bob_browser.close())
    return seen


def test_browser_meeting_with_a_bot_end_to_end(server, api, tmp_path: Path) -> None:
    started_ms = time.time() * 1000
    seen = asyncio.run(meeting(api, server.url, tmp_path))
    bot, bot_id = seen["bot"], seen["bot_id"]
    alice_uuid, bob_uuid = seen["alice_uuid"], seen["bob_uuid"]

    # The state sequence, as the API tells it.
    assert [e["type"] for e in bot["events"]] == [
        "join_requested",
        "joined_meeting",
        "recording_permission_granted",
        "recording_paused",
        "recording_resumed",
        "leave_requested",
        "left_meeting",
        "post_processing_completed",
    ]
    assert bot["events"][5]["sub_type"] == "user_requested"
    assert bot["recording_state"] == "complete"
    assert bot["transcription_state"] == "complete"

    # Participants: the names and uuids the pages were given; Alice, first in, is the host.
    assert alice_uuid and bob_uuid and alice_uuid != bob_uuid
    assert "host" in seen["alice_tags_on_bob"] and "host" not in seen["bob_tags_on_alice"]
    assert "being recorded by Notetaker" in seen["recording_notice"]
    people = {p["name"]: p for p in results(api, bot_id, "participants")}
    assert set(people) == {"Alice", "Bob"}
    assert (people["Alice"]["uuid"], people["Alice"]["is_host"]) == (alice_uuid, True)
    assert (people["Bob"]["uuid"], people["Bob"]["is_host"]) == (bob_uuid, False)

    # Join and leave events, stamped while the meeting ran and in the order things happened.
    events = results(api, bot_id, "participant_events")
    moves = [(e["event_type"], e["participant_uuid"]) for e in events]
    assert moves == [("join", alice_uuid), ("join", bob_uuid), ("leave", bob_uuid)]
    stamps = [e["timestamp_ms"] for e in events]
    assert stamps == sorted(stamps)
    assert started_ms < stamps[0] and stamps[-1] <= seen["bob_left_at"] * 1000
    assert stamps[0] >= epoch_ms(bot["events"][2]["created_at"]) - 1000  # joined after the bot

    # Chat typed in Alice's page, with its sender.
    chat = results(api, bot_id, "chat_messages")
    assert [(m["sender_name"], m["sender_uuid"], m["text"]) for m in chat] == [
        ("Alice", alice_uuid, ALICE_CHAT)
    ]

    # The transcript: each person's sentence, attributed to them, in the order they spoke.
    transcript = results(api, bot_id, "transcript")
    assert [u["speaker_name"] for u in transcript] == ["Alice", "Bob"], transcript
    assert [u["speaker_uuid"] for u in transcript] == [alice_uuid, bob_uuid]
    said = [u["transcription"]["transcript"] for u in transcript]
    heard = [
        (u["speaker_name"], u["duration_ms"], u["transcription"]["transcript"]) for u in transcript
    ]
    assert word_error_rate(ALICE_SAYS, said[0]) <= 0.3, heard
    assert word_error_rate(BOB_SAYS, said[1]) <= 0.3, heard
    alice_ends_ms = transcript[0]["timestamp_ms"] + transcript[0]["duration_ms"]
    assert alice_ends_ms <= transcript[1]["timestamp_ms"]

    # The recording: as long as the bot recorded, loud where people spoke, quiet in between.
    recording = api.get(f"/api/v1/bots/{bot_id}/recording").json()
    audio, rate = decode_mono(httpx.get(recording["url"], timeout=30).content)
    recorded_s = len(audio) / rate
    in_meeting_s = (
        epoch_ms(bot["events"][4]["created_at"]) - epoch_ms(bot["events"][2]["created_at"])
    ) / 1000
    assert abs(recorded_s - in_meeting_s) <= 2.0, (recorded_s, in_meeting_s)

    def span(start_ms: float, end_ms: float) -> np.ndarray:
        offset_ms = recording["start_timestamp_ms"]
        return audio[
            int((start_ms - offset_ms) * rate / 1000) : int((end_ms - offset_ms) * rate / 1000)
        ]

    first, second = transcript
    alice_audio = span(first["timestamp_ms"], first["timestamp_ms"] + first["duration_ms"])
    bob_audio = span(second["timestamp_ms"], second["timestamp_ms"] + second["duration_ms"])
    between = span(first["timestamp_ms"] + first["duration_ms"] + 300, second["timestamp_ms"] - 300)
    assert len(between) > rate // 2  # they really took turns
    assert rms(alice_audio) > 0.01 and rms(bob_audio) > 0.01
    assert rms(between) < rms(alice_audio) / 5 and rms(between) < rms(bob_audio) / 5
