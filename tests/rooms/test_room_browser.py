"""Two headless Chromium participants use the room page; the RoomAdapter bot is in the room too."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.async_api import Page, async_playwright

from sitin.runtime.adapters.base import (
    AudioFrame,
    ChatReceived,
    MeetingEvent,
    ParticipantJoined,
    ParticipantLeft,
    SpeechStart,
)
from support.browser import launch
from support.rooms import room_app, room_bot
from support.servers import serve
from support.speech import flite_wav, rms_dbfs

CHROMIUM = "/usr/bin/chromium"
PROMPT_S = 5.0  # "promptly": far below the ~30 s ICE consent timeout
SCREENSHOT = os.environ.get("SITIN_ROOM_SCREENSHOT")  # set to a .png path to keep a screenshot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs system Chromium"),
]


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return room_app()


@pytest.fixture(scope="module")
def base_url(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


async def wait_until(condition: Callable[[], object], timeout_s: float = PROMPT_S) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


async def chat_from_page(page: Page, text: str) -> None:
    await page.fill("#chat-text", text)
    await page.click("#chat-send")


def test_browser_participants_talk_and_chat_with_the_bot(
    app: FastAPI, base_url: str, tmp_path: Path
) -> None:
    alice_wav = flite_wav(tmp_path, "alice", "Hello from Alice.", tail_silence_s=2)
    bob_wav = flite_wav(tmp_path, "bob", "Bob is here too.", tail_silence_s=2)
    events: list[MeetingEvent] = []

    def of(kind: type, uuid: str | None = None) -> list:
        return [e for e in events if isinstance(e, kind) and (uuid is None or e.uuid == uuid)]

    async def scenario() -> None:
        bot = room_bot(app, base_url, "weekly", "Notetaker", events.append)
        await bot.join()  # first in the room: both browsers call the bot
        async with async_playwright() as playwright:
            alice_browser = await launch(playwright, alice_wav)
            bob_browser = await launch(playwright, bob_wav)
            alice = await alice_browser.new_page()
            bob = await bob_browser.new_page()
            await alice.goto(f"{base_url}/rooms/weekly?name=Alice")
            await alice.wait_for_selector("body[data-state=joined]")
            await bob.goto(f"{base_url}/rooms/weekly?name=Bob")
            await bob.wait_for_selector("body[data-state=joined]")

            # The bot sees both people; the pages list everyone, the bot tagged as a bot.
            await wait_until(lambda: len(of(ParticipantJoined)) == 2)
            people = {e.name: e for e in of(ParticipantJoined)}
            assert people["Alice"].is_host and not people["Bob"].is_host
            alice_uuid, bob_uuid = people["Alice"].uuid, people["Bob"].uuid
            await bob.wait_for_selector(f"#participants li[data-uuid='{alice_uuid}']")
            bot_entry = bob.locator(f"#participants li[data-uuid='{bot.uuid}']")
            assert "Notetaker" in await bot_entry.inner_text()
            assert "bot" in await bot_entry.inner_text()

            # Their microphones reach the bot as separate, speaking streams.
            await wait_until(lambda: of(SpeechStart, alice_uuid) and of(SpeechStart, bob_uuid), 15)
            assert of(AudioFrame, alice_uuid) and of(AudioFrame, bob_uuid)
            # Browser to browser: Bob's page shows Alice speaking (from her audio level).
            await bob.wait_for_selector(
                f"#participants li.speaking[data-uuid='{alice_uuid}']", timeout=15_000
            )

            # Chat typed in the page reaches the bot with its sender; the bot's reaches the pages.
            await chat_from_page(alice, "Hi bot, please take notes")
            await wait_until(lambda: of(ChatReceived, alice_uuid))
            chat = of(ChatReceived, alice_uuid)[0]
            assert chat.text == "Hi bot, please take notes" and chat.to == "everyone"
            await bot.send_chat("Notes are on")
            for page in (alice, bob):
                line = page.locator("#chat-log li", has_text="Notes are on")
                await line.wait_for()
                assert "Notetaker" in await line.inner_text()
            assert await bob.locator("#chat-log li", has_text="please take notes").count() == 1

            if SCREENSHOT:
                await bob.screenshot(path=SCREENSHOT, full_page=True)

            # Leaving: Bob clicks Leave; Alice's browser is killed. Both are seen promptly.
            await bob.click("#leave-button")
            await wait_until(lambda: of(ParticipantLeft, bob_uuid))
            await alice.wait_for_selector(
                f"#participants li[data-uuid='{bob_uuid}']", state="detached"
            )
            await alice_browser.close()
            await wait_until(lambda: of(ParticipantLeft, alice_uuid))
            await bob_browser.close()
        await bot.leave()

    asyncio.run(scenario())


def test_leaving_the_page_says_goodbye(app: FastAPI, base_url: str, tmp_path: Path) -> None:
    wav = flite_wav(tmp_path, "carol", "Carol.", tail_silence_s=1)
    events: list[MeetingEvent] = []

    async def scenario() -> None:
        bot = room_bot(app, base_url, "brief", "Notetaker", events.append)
        await bot.join()
        async with async_playwright() as playwright:
            browser = await launch(playwright, wav)
            page = await browser.new_page()
            await page.goto(f"{base_url}/rooms/brief")
            await page.fill("#display-name", "Carol")  # the join form, no ?name= link
            await page.click("#join-button")
            await page.wait_for_selector("body[data-state=joined]")
            await wait_until(lambda: any(isinstance(e, ParticipantJoined) for e in events))
            await page.goto("about:blank")  # navigating away fires pagehide -> bye
            await wait_until(lambda: any(isinstance(e, ParticipantLeft) for e in events))
            await browser.close()
        await bot.leave()

    asyncio.run(scenario())


def test_the_page_shows_the_recording_and_mutes_the_microphone(
    app: FastAPI, base_url: str, tmp_path: Path
) -> None:
    """Issue 11 item 3: while a bot records, the page says so (and stops saying it when the bot
    pauses); the mute button silences the person's microphone for everyone, unmute restores it."""
    wav = flite_wav(tmp_path, "dana", "Dana is talking about the quarterly numbers now.")
    events: list[MeetingEvent] = []

    def loudness_since(uuid: str, since_ms: float) -> tuple[float, float]:
        """(seconds of Dana's audio the bot got since `since_ms`, their loudest 20 ms in dBFS)."""
        frames = [
            e for e in events if isinstance(e, AudioFrame) and e.uuid == uuid
            and e.timestamp_ms >= since_ms
        ]  # fmt: skip
        loudest = max((rms_dbfs(f.pcm) for f in frames), default=-120.0)
        return len(frames) * 0.02, loudest

    async def scenario() -> None:
        bot = room_bot(app, base_url, "recorded", "Notetaker", events.append)
        await bot.join()
        async with async_playwright() as playwright:
            browser = await launch(playwright, wav)
            page = await browser.new_page()
            await page.goto(f"{base_url}/rooms/recorded?name=Dana")
            await page.wait_for_selector("body[data-state=joined]")
            notice = page.locator("#recording-notice")
            assert await notice.is_hidden()  # in the room, not recording yet

            await bot.set_recording(True)
            await notice.wait_for(state="visible")
            assert "being recorded by Notetaker" in await notice.inner_text()
            await bot.set_recording(False)  # paused
            await notice.wait_for(state="hidden")
            await bot.set_recording(True)
            await notice.wait_for(state="visible")

            # Muting: what reaches the bot goes silent; unmuting brings the voice back.
            await wait_until(lambda: any(isinstance(e, ParticipantJoined) for e in events))
            dana = next(e for e in events if isinstance(e, ParticipantJoined)).uuid
            await wait_until(lambda: loudness_since(dana, 0)[1] > -40, 15)
            await page.click("#mute-button")
            await page.wait_for_selector("body[data-muted=yes]")
            assert await page.locator("#mute-button").get_attribute("aria-pressed") == "true"
            muted_at = time.time() * 1000 + 500  # frames already on their way
            await wait_until(lambda: loudness_since(dana, muted_at)[0] >= 3, 15)
            assert loudness_since(dana, muted_at)[1] < -60
            await page.click("#mute-button")
            await page.wait_for_selector("body[data-muted=no]")
            unmuted_at = time.time() * 1000
            await wait_until(lambda: loudness_since(dana, unmuted_at)[1] > -40, 15)

            # The bot leaving takes the notice with it.
            await bot.leave()
            await notice.wait_for(state="hidden")
            await browser.close()

    asyncio.run(scenario())
