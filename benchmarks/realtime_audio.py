"""Realtime-audio figures: latency both ways through a real room, CPU per bot, TTS first audio.

    .venv/bin/python benchmarks/realtime_audio.py                 # about 2 minutes
    .venv/bin/python benchmarks/realtime_audio.py --bots 10 --seconds 20 --bursts 30

Bots run in a child process (RoomAdapter + the realtime and playback stages, exactly as a bot's
pipeline has them; no recording or transcription), each alone in a room of this process's room
server with aiortc participants, streaming to a voice-agent server (tests/support/voice_agent.py)
on 127.0.0.1 in this process. Clocks are the same machine's `time.time()`.

1. speech -> websocket: a participant plays 200 ms tone bursts; from the moment its microphone
   track hands out the burst's first frame to the arrival at the agent of the first chunk
   containing it, per-participant and mixed (p50/p99).
2. bot_output -> audible: the agent sends a 200 ms tone as one bot_output chunk; from just before
   the send to the first loud frame the participant receives from the bot (p50/p99).
3. CPU per bot: N bots with both streams on (mixed 16 kHz + per participant 16 kHz), each room with
   `--participants` talking participants, against the same N bots with no websocket_settings,
   side by side: the child's utime+stime per wall second (100 % = one core). Also whether every
   bot kept up: seconds of mixed audio received per bot per second (1.00) and sequence gaps.
4. TTS: the offline engine (Pico, warm child process) time to first audio for a 20-word sentence.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

RATE = 48_000
LOUD = int(0.05 * 32767)
SENTENCE_20_WORDS = (
    "Good morning everyone, thank you for joining the weekly planning meeting today; "
    "let us start with the budget review now."
)


def tone(seconds: float, rate: int = RATE, hz: float = 440.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * level * 32767).astype(np.int16)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def describe_ms(values: list[float]) -> str:
    if not values:
        return "no samples"
    ms = [v * 1000 for v in values]
    return (
        f"p50 {statistics.median(ms):.0f} ms, p99 {percentile(ms, 99):.0f} ms, "
        f"min {min(ms):.0f}, max {max(ms):.0f} (n={len(ms)})"
    )


# ---- the bots (child process) ------------------------------------------------------------


def run_bots(base_url: str, agent_url: str | None, count: int, pipe) -> None:
    asyncio.run(_bots(base_url, agent_url, count, pipe))


async def _bots(base_url: str, agent_url: str | None, count: int, pipe) -> None:
    from sitin.core import realtime_audio as protocol
    from sitin.outbound import OutboundGuard, parse_host_rules
    from sitin.rooms.passes import BotPass, RoomPasses
    from sitin.runtime.adapters.base import MeetingEnded
    from sitin.runtime.adapters.room import RoomAdapter
    from sitin.runtime.pipeline.base import Pipeline
    from sitin.runtime.pipeline.realtime import RealtimeAudioStage
    from sitin.runtime.pipeline.stages import PlaybackStage
    from support.rooms import TEST_SECRET

    guard = OutboundGuard(listed=parse_host_rules("127.0.0.1"))
    passes = RoomPasses(TEST_SECRET)  # the room server's secret (support.rooms.room_app)
    problems: list[str] = []

    async def report(*args: str) -> None:
        if args[0] in ("warning", "error"):
            problems.append(args[-1])

    bots = []
    for i in range(count):
        holder: dict = {}

        def sink(event, holder=holder) -> None:
            if not isinstance(event, MeetingEnded) and "pipeline" in holder:
                holder["pipeline"].put(event)

        adapter = RoomAdapter(
            f"{base_url}/rooms/bench{i}",
            f"Bot {i}",
            sink,
            guard=guard,
            room_pass=lambda room, i=i: passes.issue_bot_pass(
                BotPass(room, f"bench{i}", f"Bot {i}")
            ),
        )
        stages = []
        if agent_url:
            settings = protocol.validate_websocket_settings(
                {"audio": {"url": agent_url}, "per_participant_audio": {"url": agent_url}}
            )
            stages.append(
                RealtimeAudioStage(
                    f"bot{i}",
                    protocol.streams(settings),
                    guard=guard,
                    report=report,
                    reconnect_attempts=30,
                    reconnect_delay_s=2.0,
                )
            )
        stages.append(PlaybackStage(adapter.play_audio, adapter.clear_audio, report=report))
        pipeline = holder["pipeline"] = Pipeline(stages)
        await adapter.join()
        pipeline.start()
        bots.append((adapter, pipeline))
    pipe.send("ready")
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command == "cpu":
            times = os.times()
            pipe.send((times.user + times.system, time.monotonic()))
        elif command == "stop":
            break
    for adapter, pipeline in bots:
        await adapter.leave()
        await pipeline.close()
    pipe.send(problems)


class BotProcess:
    def __init__(self, base_url: str, agent_url: str | None, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(
            target=run_bots, args=(base_url, agent_url, count, child), daemon=True
        )
        self.process.start()

    async def ready(self) -> None:
        assert await asyncio.to_thread(self.pipe.recv) == "ready"

    async def cpu(self) -> tuple[float, float]:
        self.pipe.send("cpu")
        return await asyncio.to_thread(self.pipe.recv)

    async def stop(self) -> list[str]:
        self.pipe.send("stop")
        problems = await asyncio.to_thread(self.pipe.recv)
        self.process.join(10)
        return problems


# ---- the measurements --------------------------------------------------------------------


async def until(condition, timeout_s: float = 20.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.005)


async def latencies(base_url: str, bursts: int) -> None:
    from sitin.core import realtime_audio as protocol
    from support.peers import TestParticipant
    from support.voice_agent import VoiceAgent

    async with VoiceAgent() as agent:
        alice = TestParticipant(base_url, "bench0", "Alice")
        await alice.join()
        bots = BotProcess(base_url, agent.url, 1)
        await bots.ready()
        await until(lambda: alice.connected_to_bot() and agent.connections)
        bot_uuid = next(p["uuid"] for p in alice.joined if p.get("role") == "bot")
        await asyncio.sleep(1.0)  # let both directions settle (not a synchronisation)

        to_agent: dict[str, list[float]] = {"per_participant": [], "mixed": []}
        for _ in range(bursts):
            started = alice.say(tone(0.2))
            for kind, trigger in (("per_participant", protocol.PER_PARTICIPANT),
                                  ("mixed", protocol.MIXED)):  # fmt: skip

                def arrived(trigger=trigger, started=started):
                    return next(
                        (
                            c.arrived
                            for c in agent.stream(trigger)
                            if c.arrived >= started - 0.05 and np.abs(c.pcm).max() > LOUD
                        ),
                        None,
                    )

                await until(lambda arrived=arrived: arrived() is not None)
                to_agent[kind].append(arrived() - started)
            await until(lambda started=started: time.time() > started + 0.6)

        audible: list[float] = []
        for _ in range(bursts):
            sent = time.time()
            await agent.say(tone(0.2, 16000), 16000, chunk_s=0.2)

            def heard(sent=sent):
                return next(
                    (
                        arrived
                        for arrived, pcm in alice.heard.get(bot_uuid, [])
                        if arrived >= sent and np.abs(pcm).max() > LOUD
                    ),
                    None,
                )

            await until(lambda heard=heard: heard() is not None)
            audible.append(heard() - sent)
            await until(lambda sent=sent: time.time() > sent + 0.6)
        problems = await bots.stop()
        await alice.leave()
    print("1. speech in the meeting -> first websocket chunk containing it")
    print(f"   per_participant_audio: {describe_ms(to_agent['per_participant'])}")
    print(f"   audio (mixed):         {describe_ms(to_agent['mixed'])}")
    print("2. bot_output chunk sent -> audible at a participant")
    print(f"   {describe_ms(audible)}")
    if problems:
        print(f"   bot log entries: {problems[:5]}")


async def cpu_per_bot(base_url: str, count: int, participants: int, seconds: float) -> None:
    from sitin.core import realtime_audio as protocol
    from support.peers import TestParticipant
    from support.voice_agent import VoiceAgent

    print(f"3. CPU of {count} bots, {participants} talking participant(s) each, {seconds:g} s")
    results = {}
    for streams_on in (True, False):
        async with VoiceAgent() as agent:
            people = []
            for i in range(count):
                for p in range(participants):
                    person = TestParticipant(base_url, f"bench{i}", f"P{p}")
                    await person.join()
                    person.say(np.tile(np.concatenate([tone(1.0), tone(1.0, level=0)]), 60))
                    people.append(person)
            bots = BotProcess(base_url, agent.url if streams_on else None, count)
            await bots.ready()
            await until(lambda people=people: all(p.connected_to_bot() for p in people), 60)
            if streams_on:
                await until(lambda: len({c.bot_id for c in agent.chunks}) == count, 60)
            await asyncio.sleep(2.0)  # past the connection set-up (a measuring window, not a sync)
            cpu0, t0 = await bots.cpu()
            first = len(agent.chunks)
            window_start = time.time()
            await asyncio.sleep(seconds)
            cpu1, t1 = await bots.cpu()
            window = [c for c in agent.chunks[first:] if c.arrived >= window_start]
            problems = await bots.stop()
            for person in people:
                await person.leave()
        share = 100 * (cpu1 - cpu0) / (t1 - t0)
        results[streams_on] = share
        label = "both streams on " if streams_on else "no websocket    "
        line = f"   {label}: {share:.0f} % of a core in all, {share / count:.1f} % per bot"
        if streams_on:
            mixed = [c for c in window if c.trigger == protocol.MIXED]
            audio_s = sum(len(c.pcm) / c.sample_rate for c in mixed) / count / (t1 - t0)
            gaps = 0
            for bot in {c.bot_id for c in mixed}:
                seq = [c.sequence for c in mixed if c.bot_id == bot]
                gaps += sum(b - a - 1 for a, b in zip(seq, seq[1:], strict=False))
            line += f"; mixed audio {audio_s:.2f} s/s per bot (1.00: real time), {gaps} gaps"
        print(line)
        if problems:
            print(f"   bot log entries: {problems[:5]}")
    extra = (results[True] - results[False]) / count
    print(f"   the websocket streams cost {extra:.1f} % of a core per bot")


async def tts_first_audio(repeats: int) -> None:
    from sitin.text_to_speech.pico import PicoProcess, PicoSpeechEngine

    assert len(SENTENCE_20_WORDS.split()) == 20
    process = PicoProcess()
    await process.warm_up()
    engine = PicoSpeechEngine(process)
    firsts, totals = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        first = None
        async for _piece in engine.synthesize(SENTENCE_20_WORDS):
            first = first or time.perf_counter() - started
        firsts.append(first)
        totals.append(time.perf_counter() - started)
    await process.aclose()
    print("4. offline TTS (Pico, warm), 20-word sentence")
    print(f"   first audio {describe_ms(firsts)}; whole sentence {describe_ms(totals)}")


async def main(args) -> None:
    from support.rooms import room_app
    from support.servers import serve

    print(f"load average before: {os.getloadavg()}  (2-core machine shared with others)")
    with serve(room_app()) as base_url:
        if args.bursts:
            await latencies(base_url, args.bursts)
        if args.bots:
            await cpu_per_bot(base_url, args.bots, args.participants, args.seconds)
    await tts_first_audio(args.tts)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=30, help="latency samples each way")
    parser.add_argument("--bots", type=int, default=10)
    parser.add_argument("--participants", type=int, default=1, help="talking, per room")
    parser.add_argument("--seconds", type=float, default=20.0, help="CPU measuring window")
    parser.add_argument("--tts", type=int, default=10, help="TTS repetitions")
    asyncio.run(main(parser.parse_args()))
