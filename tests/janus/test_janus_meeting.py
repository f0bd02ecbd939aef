"""A bot in a real Janus VideoRoom meeting, end to end: two people in headless Chromium on Janus's
own VideoRoom demo page (a third-party meeting UI) speaking known sentences, one of them chatting
on Janus's TextRoom demo page, and a bot sent in through sitin's API that records, transcribes
each speaker, captures participants, join/leave and chat, leaves on request, and whose data is
then deleted without a trace."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest
from playwright.async_api import Browser, Page, Playwright, async_playwright

from sitin.core.timefmt import parse_wire
from sitin.deletion.verify import remaining_data
from support.janus import JanusMeeting, janus_demo_site
from support.speech import decode_mono, microphone_wav, word_error_rate

CHROMIUM = "/usr/bin/chromium"
ALICE_SAYS = "the design review went well and the team is happy"
BOB_SAYS = "we should move the weekly meeting to the afternoon"
ALICE_CHAT = "notes are in the shared folder"
BOT_SAYS_TO_ALL = "Notetaker is recording this meeting"
BOT_SAYS_TO_ALICE = "Alice, your notes will follow"
# A fake microphone plays its file from the moment the page captures (when it publishes):
# Alice speaks soon after, Bob, who publishes after her, well after she has finished.
ALICE_STARTS_S = 2.5
BOB_STARTS_S = 8.0
GAP_MARGIN_MS = 1000
MICROPHONE_FILE_S = 240.0  # longer than the test: Chromium plays the file in a loop

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def results(live, bot_id: str, what: str) -> list[dict]:
    response = live.http.get(f"/api/v1/bots/{bot_id}/{what}")
    assert response.status_code == 200, response.text
    body = response.json()
    return body["results"] if isinstance(body, dict) else body


def epoch_ms(wire_time: str) -> float:
    return parse_wire(wire_time).timestamp() * 1000


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio)))) if len(audio) else 0.0


async def launch(playwright: Playwright, microphone: Path) -> Browser:
    return await playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--use-fake-ui-for-media-stream",
            # the demo page always sends video too: a slow fake camera keeps that cheap
            "--use-fake-device-for-media-stream=fps=5",
            f"--use-file-for-fake-audio-capture={microphone}",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
        ],
    )


async def start_demo(page: Page, url: str, name: str) -> None:
    """Open a Janus demo page and register as `name` (the Start button works only once
    Janus.init has finished, so it is pressed until the name field appears)."""
    await page.goto(url)
    for _ in range(50):
        if await page.locator("#username").is_visible():
            break
        if await page.locator("#start").is_enabled():
            await page.click("#start")
        await asyncio.sleep(0.2)
    await page.fill("#username", name)
    await page.click("#register")


async def meeting(setup: JanusMeeting, site: str, room: int, tmp_path: Path) -> dict:
    live = setup.live
    alice_wav = microphone_wav(tmp_path, "alice", ALICE_SAYS, ALICE_STARTS_S, MICROPHONE_FILE_S)
    bob_wav = microphone_wav(tmp_path, "bob", BOB_SAYS, BOB_STARTS_S, MICROPHONE_FILE_S)
    videoroom_page = f"{site}/videoroomtest.html?room={room}"
    seen: dict = {}
    async with async_playwright() as playwright:
        alice_browser, bob_browser = await asyncio.gather(
            launch(playwright, alice_wav), launch(playwright, bob_wav)
        )
        try:
            # The bot is in the room first, so it hears everything from each person's first word.
            created = await asyncio.to_thread(
                live.create_bot,
                meeting_url=setup.janus.meeting_url(room),
                recording_settings={"format": "mp3"},
            )
            bot_id = seen["bot_id"] = created["id"]
            await asyncio.to_thread(live.wait_for_state, bot_id, "joined_recording", timeout=60)

            alice = await alice_browser.new_page()
            await start_demo(alice, videoroom_page, "Alice")
            # the bot, publishing its audio, is a participant on Alice's page
            await alice.wait_for_selector("text=Notetaker", timeout=60_000)
            bob = await bob_browser.new_page()
            await start_demo(bob, videoroom_page, "Bob")
            await bob.wait_for_selector("text=Alice", timeout=60_000)

            def both_transcribed():
                utterances = results(live, bot_id, "transcript")
                return (
                    utterances
                    if {"Alice", "Bob"} <= {u["speaker_name"] for u in utterances}
                    else None
                )

            await asyncio.to_thread(live.wait_until, both_transcribed, 180, "both transcribed")

            chat = await alice_browser.new_page()
            await start_demo(chat, f"{site}/textroomtest.html?room={room}", "Alice")
            await chat.wait_for_selector("#datasend:enabled", timeout=60_000)
            await chat.fill("#datasend", ALICE_CHAT)
            await chat.press("#datasend", "Enter")
            await asyncio.to_thread(
                live.wait_until, lambda: results(live, bot_id, "chat_messages"), 60, "chat"
            )
            # the bot's own messages reach the chat page: to everyone, and privately to Alice
            alice_uuid = {p["name"]: p["uuid"] for p in results(live, bot_id, "participants")}[
                "Alice"
            ]
            for body in (
                {"message": BOT_SAYS_TO_ALL},
                {"message": BOT_SAYS_TO_ALICE, "to": "specific_user", "to_user_uuid": alice_uuid},
            ):
                sent = await asyncio.to_thread(
                    live.http.post, f"/api/v1/bots/{bot_id}/send_chat_message", json=body
                )
                assert sent.status_code == 200, sent.text
                await chat.wait_for_selector(f"#chatroom >> text={body['message']}", timeout=60_000)

            await bob.click("#start")  # "Stop": Bob leaves while the bot is still there
            bob_uuid = {p["name"]: p["uuid"] for p in results(live, bot_id, "participants")}["Bob"]

            def bob_leave_seen():
                events = results(live, bot_id, "participant_events")
                return any(
                    e["event_type"] == "leave" and e["participant_uuid"] == bob_uuid for e in events
                )

            await asyncio.to_thread(live.wait_until, bob_leave_seen, 60, "Bob's leave")
            seen["bob_left_at"] = time.time()

            left = await asyncio.to_thread(live.http.post, f"/api/v1/bots/{bot_id}/leave")
            assert left.status_code == 200, left.text
            seen["bot"] = await asyncio.to_thread(live.wait_for_state, bot_id, "ended", timeout=120)
        finally:
            await asyncio.gather(alice_browser.close(), bob_browser.close())
    return seen


def test_bot_in_a_janus_videoroom_end_to_end(janus_meeting: JanusMeeting, tmp_path: Path) -> None:
    live = janus_meeting.live
    room = janus_meeting.new_room()
    started_ms = time.time() * 1000
    with janus_demo_site() as site:
        seen = asyncio.run(meeting(janus_meeting, site, room, tmp_path))
    bot, bot_id = seen["bot"], seen["bot_id"]

    assert [e["type"] for e in bot["events"]] == [
        "join_requested",
        "joined_meeting",
        "recording_permission_granted",
        "leave_requested",
        "left_meeting",
        "post_processing_completed",
    ]
    assert bot["meeting_url"] == f"ws://127.0.0.1:8188/?room={room}"
    assert bot["recording_state"] == "complete"
    assert bot["transcription_state"] == "complete"

    # Participants: the names typed into the demo pages, with Janus's ids for them.
    people = {p["name"]: p for p in results(live, bot_id, "participants")}
    assert set(people) == {"Alice", "Bob"}
    alice_uuid, bob_uuid = people["Alice"]["uuid"], people["Bob"]["uuid"]
    assert alice_uuid.isdigit() and bob_uuid.isdigit() and alice_uuid != bob_uuid

    events = results(live, bot_id, "participant_events")
    moves = [(e["event_type"], e["participant_uuid"]) for e in events]
    assert moves == [("join", alice_uuid), ("join", bob_uuid), ("leave", bob_uuid)]
    stamps = [e["timestamp_ms"] for e in events]
    assert stamps == sorted(stamps)
    assert started_ms < stamps[0] and stamps[-1] <= seen["bob_left_at"] * 1000

    # Chat from the TextRoom page, attributed to the VideoRoom participant of the same name.
    chat = results(live, bot_id, "chat_messages")
    assert [(m["sender_name"], m["sender_uuid"], m["text"]) for m in chat] == [
        ("Alice", alice_uuid, ALICE_CHAT)
    ]

    # The transcript: each person's sentence, attributed to them, Alice first. (A sentence may
    # come as more than one utterance when the segmenter splits it at a pause.)
    transcript = results(live, bot_id, "transcript")
    heard = [(u["speaker_name"], u["transcription"]["transcript"]) for u in transcript]
    speakers = [u["speaker_uuid"] for u in transcript]
    assert set(speakers) == {alice_uuid, bob_uuid}, heard
    assert speakers == sorted(speakers, key=[alice_uuid, bob_uuid].index), heard

    def said_by(uuid: str) -> str:
        return " ".join(
            u["transcription"]["transcript"] for u in transcript if u["speaker_uuid"] == uuid
        )

    assert word_error_rate(ALICE_SAYS, said_by(alice_uuid)) <= 0.3, heard
    assert word_error_rate(BOB_SAYS, said_by(bob_uuid)) <= 0.3, heard

    # The recording holds both voices, each where its utterance says, and quiet in between.
    recording = live.http.get(f"/api/v1/bots/{bot_id}/recording").json()
    audio, rate = decode_mono(live.download(recording["url"]))
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

    def spoken(uuid: str) -> tuple[float, float]:
        own = [u for u in transcript if u["speaker_uuid"] == uuid]
        return own[0]["timestamp_ms"], own[-1]["timestamp_ms"] + own[-1]["duration_ms"]

    (alice_from, alice_to), (bob_from, bob_to) = spoken(alice_uuid), spoken(bob_uuid)
    alice_audio, bob_audio = span(alice_from, alice_to), span(bob_from, bob_to)
    # a second's margin each side: under heavy load utterance edges and the mix may differ by more
    # than a few frames; the gap between the two sentences is several seconds long
    between = span(alice_to + GAP_MARGIN_MS, bob_from - GAP_MARGIN_MS)
    assert len(between) > rate // 2
    assert rms(alice_audio) > 0.01 and rms(bob_audio) > 0.01
    loud = np.flatnonzero(np.abs(between) > 0.1)
    where = {  # where the gap is not quiet, relative to the utterances' ends (for a failure)
        "after_alice_ms": (loud[0] * 1000 / rate + GAP_MARGIN_MS) if len(loud) else None,
        "before_bob_ms": ((len(between) - loud[-1]) * 1000 / rate + GAP_MARGIN_MS)
        if len(loud)
        else None,
        "utterances": [
            (u["speaker_name"], u["timestamp_ms"], u["duration_ms"]) for u in transcript
        ],
    }
    assert rms(between) < rms(alice_audio) / 5 and rms(between) < rms(bob_audio) / 5, where

    # delete_data: nothing readable is left anywhere.
    deleted = live.http.post(f"/api/v1/bots/{bot_id}/delete_data")
    assert deleted.status_code == 200, deleted.text
    assert live.bot(bot_id)["state"] == "data_deleted"
    assert remaining_data(live.ctx, bot_id) == []
