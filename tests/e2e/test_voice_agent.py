"""A voice agent in a real meeting: a bot created through the API with websocket_settings streams
the room's audio (mixed and per participant, from aiortc participants) to a small voice-agent
server on 127.0.0.1, which answers with speech the participant hears and the recording contains.
The agent drops the socket and the bot comes back; garbage is logged and ignored; barge-in cuts
the bot off; delete_data leaves nothing of it behind."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from sitin.core import realtime_audio as protocol
from sitin.datadir import bot_work_dir
from sitin.db.tables import bot_output_requests
from sitin.deletion.verify import remaining_data
from support.bot_logs import log_messages
from support.live import start_live
from support.peers import TestParticipant
from support.speech import decode_mono, flite_wav, read_pcm_48k, rms_dbfs, window_dbfs
from support.voice import quiet_for
from support.voice_agent import VoiceAgent

RATE = 48_000
LOUD_DBFS = -35
QUESTION = "When is the design review?"
ANSWER = "The design review is on Tuesday at ten in the morning."

pytestmark = [pytest.mark.slow]


def loud_seconds(pcm: np.ndarray, rate: int = RATE, window_s: float = 0.02) -> float:
    return float(np.count_nonzero(window_dbfs(pcm, rate, window_s) > LOUD_DBFS)) * window_s


def speech_16k(tmp_path: Path, name: str, text: str) -> np.ndarray:
    pcm48 = read_pcm_48k(flite_wav(tmp_path, name, text))
    return pcm48[::3].copy()  # flite speaks 16 kHz: read back at 48 kHz, every third sample


def tone_16k(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (np.sin(2 * np.pi * 440 * t) * 0.3 * 32767).astype(np.int16)


async def until(condition, timeout_s: float = 20.0, what=lambda: "a condition") -> None:
    try:
        async with asyncio.timeout(timeout_s):
            while not condition():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what()}") from None


def stream_report(agent: VoiceAgent, alice: TestParticipant, asked: float) -> str:
    """Where Alice's question went, for a failing test's message."""
    lines = []
    for name, chunks in (
        ("hers", agent.stream(protocol.PER_PARTICIPANT, alice.uuid)),
        ("mixed", agent.stream(protocol.MIXED)),
    ):
        late = [c for c in chunks if c.arrived >= asked]
        loudest = max((rms_dbfs(c.pcm) for c in chunks if len(c.pcm)), default=None)
        lags = [c.arrived - c.timestamp_ms / 1000 for c in late]
        lines.append(
            f"{name}: {len(late)} of {len(chunks)} chunks after the question, loudest ever "
            f"{loudest} dBFS, lag {min(lags, default=0):.2f}..{max(lags, default=0):.2f} s, "
            f"stamps {late[0].timestamp_ms / 1000 - asked if late else 0:.2f}.."
            f"{late[-1].timestamp_ms / 1000 - asked if late else 0:.2f} s from the question"
        )
    lines.append(f"her microphone played everything: {alice.microphone.played_everything()}")
    return "; ".join(lines)


async def meeting(live, agent: VoiceAgent, tmp_path: Path) -> dict:
    question = read_pcm_48k(flite_wav(tmp_path, "question", QUESTION, tail_silence_s=0.5))
    answer = speech_16k(tmp_path, "answer", ANSWER)
    alice = TestParticipant(live.base_url, "agents", "Alice")
    await alice.join()
    bob = TestParticipant(live.base_url, "agents", "Bob")  # silent: his stream is silence
    await bob.join()
    created = await asyncio.to_thread(
        live.create_bot,
        meeting_url=live.room_url("agents"),
        recording_settings={"format": "mp3"},
        transcription_settings={"none": {}},
        websocket_settings={
            "audio": {"url": agent.url, "sample_rate": 16000},
            "per_participant_audio": {"url": agent.url, "sample_rate": 16000},
        },
    )
    bot_id = created["id"]
    await asyncio.to_thread(live.wait_for_state, bot_id, "joined_recording")
    await until(lambda: agent.connections and alice.connected_to_bot() and bob.connected_to_bot())
    bot_uuid = next(p["uuid"] for p in alice.joined if p["name"] == "Notetaker")

    # Alice asks; the agent hears her, mixed and on her own stream, under her name
    asked = alice.say(question)
    await until(
        lambda: (
            loud_seconds(agent.audio(protocol.PER_PARTICIPANT, alice.uuid, asked), 16000) > 0.5
            and loud_seconds(agent.audio(protocol.MIXED, since_s=asked), 16000) > 0.5
        ),
        timeout_s=40,
        what=lambda: (
            f"Alice's question at the agent; it has {agent.summary()}; "
            f"{stream_report(agent, alice, asked)}; the bot's log: {log_messages(live.ctx, bot_id)}"
        ),
    )
    mine = agent.stream(protocol.PER_PARTICIPANT, alice.uuid)
    assert {c.participant_name for c in mine} == {"Alice"}
    assert {c.bot_id for c in agent.chunks} == {bot_id}
    for uuid in (alice.uuid, bob.uuid):
        sequences = [c.sequence for c in agent.stream(protocol.PER_PARTICIPANT, uuid)]
        assert sequences == sorted(set(sequences))
    assert rms_dbfs(agent.audio(protocol.PER_PARTICIPANT, bob.uuid)) < -60, "Bob said nothing"
    await until(lambda: time.time() > asked + len(question) / RATE + 0.3)

    # the agent answers with speech: Alice hears it, and it is not in the mix the agent gets
    answered = time.time()
    await agent.say(answer, 16000)
    expected_s = loud_seconds(answer, 16000)
    await until(lambda: loud_seconds(alice.heard_from(bot_uuid, answered)) >= 0.7 * expected_s)
    await until(lambda: quiet_for(alice, bot_uuid, 0.5, answered))
    heard_s = loud_seconds(alice.heard_from(bot_uuid, answered))
    assert 0.7 * expected_s <= heard_s <= 1.3 * expected_s + 0.2, (heard_s, expected_s)
    mixed_meanwhile = agent.audio(protocol.MIXED, since_s=answered + 0.3)
    assert loud_seconds(mixed_meanwhile, 16000) == 0, "the bot's voice is never in the mix"

    # the agent drops the socket: the bot reconnects and streams on the new connection
    await agent.drop()
    await until(lambda: any(c.connection == 2 for c in agent.chunks))

    # garbage on the new connection is logged and ignored; the bot keeps listening and talking
    await agent.send_raw("this is not json")
    await agent.send_raw('{"trigger": "realtime_audio.bot_output", "data": {"chunk": "!!"}}')
    await asyncio.to_thread(
        live.wait_until,
        lambda: len([m for m in log_messages(live.ctx, bot_id) if "ignored a message" in m]) == 2,
        what="the garbage logged",
    )

    # barge-in: 10 s of tone queued, cleared once Alice hears it
    barged = time.time()
    await agent.say(tone_16k(10.0), 16000, chunk_s=0.5)
    await until(lambda: loud_seconds(alice.heard_from(bot_uuid, barged)) > 0.5)
    await agent.barge_in()
    cut = time.time()
    await until(lambda: quiet_for(alice, bot_uuid, 0.5, barged))
    after_cut = loud_seconds(alice.heard_from(bot_uuid, cut + 0.5))
    assert after_cut == 0, f"heard {after_cut} s after the barge-in"
    tone_s = loud_seconds(alice.heard_from(bot_uuid, barged))

    await asyncio.to_thread(live.http.post, f"/api/v1/bots/{bot_id}/leave")
    ended = await asyncio.to_thread(live.wait_for_state, bot_id, "ended")
    await alice.leave()
    await bob.leave()
    return {"bot": ended, "answer_s": heard_s, "tone_s": tone_s}


def test_a_voice_agent_hears_the_meeting_and_speaks_into_it(tmp_path):
    async def scenario(live) -> dict:
        async with VoiceAgent() as agent:
            return await meeting(live, agent, tmp_path)

    with start_live(tmp_path, allow_insecure_targets=True, realtime_reconnect_delay=0.2) as live:
        result = asyncio.run(scenario(live))
        bot_id = result["bot"]["id"]
        assert result["bot"]["recording_state"] == "complete"
        messages = log_messages(live.ctx, bot_id)
        assert any("code 1011: agent restarting" in m for m in messages), messages
        assert any("connected again" in m for m in messages)
        assert any("not JSON" in m for m in messages) and any(
            "sample_rate must be one of" in m for m in messages
        )
        assert all("secret-token" not in m for m in messages), "no URL token in the log"
        assert log_messages(live.ctx, bot_id, level="error") == []

        recording = live.http.get(f"/api/v1/bots/{bot_id}/recording").json()
        audio, rate = decode_mono(live.download(recording["url"]))
        recorded_s = loud_seconds((audio * 32767).astype(np.int16), rate)
        spoken_s = result["answer_s"] + result["tone_s"]
        # Alice's question is in it too (about 1.5 s): the bot's answer and tone are the rest
        assert spoken_s + 0.5 <= recorded_s <= spoken_s + 3.5, (recorded_s, spoken_s)

        deleted = live.http.post(f"/api/v1/bots/{bot_id}/delete_data")
        assert deleted.status_code == 200, deleted.text
        live.wait_until(lambda: live.bot(bot_id)["state"] == "data_deleted", what="deleted")
        assert remaining_data(live.ctx, bot_id) == []
        with live.ctx.db.read() as conn:
            rows = conn.execute(
                select(bot_output_requests.c.id).where(bot_output_requests.c.bot_id == bot_id)
            ).all()
        assert rows == []
        assert not bot_work_dir(live.ctx.settings.data_dir, bot_id).exists()
        assert live.http.get(f"/api/v1/bots/{bot_id}/recording").status_code in (400, 404)


# ---- a real browser in the meeting ---------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
# Keeps the page's peer connections reachable for measuring (the room page keeps them private).
KEEP_PEERS = """
(() => {
  const Original = window.RTCPeerConnection;
  window.__peers = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Original(...args);
    window.__peers.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
})();
"""
# Total energy of the audio the page received and decoded from all its peers (WebRTC stats).
RECEIVED_ENERGY = """
async () => {
  let energy = 0;
  for (const pc of window.__peers) {
    if (pc.connectionState !== "connected") continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") energy += s.totalAudioEnergy || 0;
    });
  }
  return energy;
}
"""


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs system Chromium")
def test_a_browser_participant_is_streamed_and_hears_the_agent(tmp_path):
    from playwright.async_api import async_playwright

    from support.browser import launch
    from support.speech import microphone_wav

    microphone = microphone_wav(tmp_path, "carol", QUESTION, speak_at_s=2.0, length_s=60.0)
    answer = speech_16k(tmp_path, "answer", ANSWER)

    async def scenario(live) -> None:
        async with VoiceAgent() as agent, async_playwright() as playwright:
            browser = await launch(
                playwright, microphone, "--autoplay-policy=no-user-gesture-required"
            )
            try:
                created = await asyncio.to_thread(
                    live.create_bot,
                    meeting_url=live.room_url("browser-agent"),
                    recording_settings={"format": "mp3"},
                    transcription_settings={"none": {}},
                    websocket_settings={
                        "per_participant_audio": {"url": agent.url, "sample_rate": 16000}
                    },
                )
                bot_id = created["id"]
                await asyncio.to_thread(live.wait_for_state, bot_id, "joined_recording")
                page = await browser.new_page()
                await page.add_init_script(KEEP_PEERS)
                await page.goto(f"{live.base_url}/rooms/browser-agent?name=Carol")
                await page.wait_for_selector("body[data-state=joined]")

                def carol_heard() -> float:
                    chunks = [c for c in agent.chunks if c.participant_name == "Carol"]
                    pcm = np.concatenate([c.pcm for c in chunks]) if chunks else np.zeros(0)
                    return loud_seconds(pcm.astype(np.int16), 16000)

                await until(lambda: carol_heard() > 0.5, timeout_s=40, what=agent.summary)
                # WebRTC's totalAudioEnergy sums (level ** 2 x seconds) of what the page decoded:
                # silence adds nothing, the answer about its own energy
                answer_energy = float(np.mean((answer / 32768.0) ** 2)) * len(answer) / 16000
                quiet = await page.evaluate(RECEIVED_ENERGY)
                await agent.say(answer, 16000)
                async with asyncio.timeout(30):
                    while (await page.evaluate(RECEIVED_ENERGY)) - quiet < 0.5 * answer_energy:
                        await asyncio.sleep(0.1)
                await page.click("#leave-button")
            finally:
                await browser.close()
            await asyncio.to_thread(live.http.post, f"/api/v1/bots/{bot_id}/leave")
            await asyncio.to_thread(live.wait_for_state, bot_id, "ended")

    with start_live(tmp_path, allow_insecure_targets=True) as live:
        asyncio.run(scenario(live))
