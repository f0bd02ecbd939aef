"""Offline transcription figures: engine speed, live pipeline latency, fidelity on real speech.

    .venv/bin/python benchmarks/transcription.py                  # 1-2 (about 3 minutes)
    .venv/bin/python benchmarks/transcription.py --speakers 5 --seconds 30
    .venv/bin/python benchmarks/transcription.py --through-api    # 3 only (about 3 minutes)
    .venv/bin/python benchmarks/transcription.py --fidelity       # 4 only (about 3 minutes)
    .venv/bin/python benchmarks/transcription.py --bots 4,12      # 5 only (about 4 minutes)
    .venv/bin/python benchmarks/transcription.py --bots 12 --packed-only --workers 2

1. Real-time factor (RTF) of faster-whisper tiny.en int8 on flite sentences, with 1 and with all
   CPU threads (wall time / audio time; CPU s per audio s).
2. Latency from the end of a spoken sentence to its transcript reaching `on_result`, through
   SpeechSegmenter + SegmentTranscriber + the offline provider, with N speakers talking at once and
   their 20 ms frames fed in real time on one event loop. Also WER, to show speed costs no accuracy.
3. With --through-api, end to end: a real `sitin serve` subprocess, N aiortc speakers (another
   process) in rooms of at most 5 with one bot each, flite sentences spoken concurrently; latency
   from the end of each sentence (speaker clock) to the first `GET /transcript` (polled every
   100 ms) listing an utterance of that speaker that covers it. Also WER and the server's CPU.
4. With --fidelity, on real human speech (tests/transcription/real_speech.py: one person reading,
   and a meeting of four people taking turns with ~10 % overlap): per speaker, WER of the live
   pipeline (48 kHz frames -> SpeakerSegmenters -> SegmentTranscriber -> offline provider) against
   the same model offline on the speaker's whole track, phrases said more often than in the
   reference, dropped turns (>= 0.5 s of speech, no word heard in it), and CPU-s per audio-s.
   The stages between are measured too, to show where accuracy goes: each turn's file transcribed
   alone (the model on ideal cuts), and the segmenter fed 16 kHz (no resampling); and the live
   pipeline with one segment per Whisper window against packed windows (packing.py).
5. With --bots, N bots hearing that meeting at once in real time in one process (one shared
   model): CPU per bot and how far transcripts fall behind, one segment a window vs packed.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import multiprocessing
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from api_throughput import cpu_seconds  # the server and its children (workers, API processes)
from faster_whisper.audio import decode_audio

from sitin.encryption import DataKey
from sitin.runtime.accuracy_pass import transcribe_track
from sitin.runtime.frames import AudioFrame
from sitin.runtime.pipeline.speech import SegmenterOptions, SpeakerSegmenters, SpeechSegmenter
from sitin.runtime.pipeline.stages import SEGMENT_BATCH_S, joined_runs
from sitin.runtime.pipeline.transcriber import SegmentTranscriber
from sitin.transcription.base import SpeechSegment
from sitin.transcription.offline import OfflineWhisperProvider, shared_model

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please schedule the project review meeting for next Tuesday morning.",
    "We need to finish the budget report before the end of the month.",
    "Our customers asked for a simpler way to export their data.",
    "The new office opens in the spring with room for many people.",
    "Thank you all for joining the call this morning.",
)
FRAME_MS = 20
TESTS_DIR = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS_DIR))  # support.process / peers / speech (also in the speaker process)


@functools.cache
def flite(text: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.wav"
        subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True)
        audio = decode_audio(str(path), sampling_rate=16_000)
    loud = np.flatnonzero(np.abs(audio) > 0.02)
    return audio[loud[0] : loud[-1] + 1]


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def engine_rtf() -> None:
    print(
        "== offline engine: faster-whisper tiny.en int8, 6 flite sentences "
        f"(load average {os.getloadavg()[0]:.1f}) =="
    )
    audio = [flite(text) for text in SENTENCES]
    seconds = sum(len(a) for a in audio) / 16_000
    for threads in sorted({1, os.cpu_count() or 1}):
        provider = OfflineWhisperProvider(cpu_threads=threads)
        provider.transcribe_blocking(SpeechSegment("warm", 0, audio[0]))
        wall, cpu = time.perf_counter(), time.process_time()
        for samples in audio:
            provider.transcribe_blocking(SpeechSegment("s", 0, samples))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"cpu_threads={threads}: RTF {wall / seconds:.3f} (wall), "
            f"{cpu / seconds:.3f} CPU-s per audio-s, {seconds:.1f} s of audio"
        )


def segmenter_cost() -> None:
    """CPU the VAD segmenter spends per 20 ms frame of 48 kHz input (resampling included): fed
    frame by frame, fed as the pipeline's stage hands it over (each participant's frames of
    0.2 s joined), and for a participant who says nothing (quiet noise at -70 dBFS)."""
    speech = np.concatenate(
        [np.concatenate([flite(t), np.zeros(16_000, np.float32)]) for t in SENTENCES]
    )
    pcm = (np.repeat(np.tile(speech, 3), 3) * 32767).astype(np.int16)
    noise = np.random.default_rng(1).standard_normal(len(pcm)) * 10 ** (-70 / 20) * 32767 / 3
    frame = 48 * FRAME_MS
    batch = round(SEGMENT_BATCH_S * 1000 / FRAME_MS)
    seconds = len(pcm) / 48_000
    for name, audio, joined in (
        ("speech, frame by frame", pcm, False),
        ("speech, 0.2 s joined", pcm, True),
        ("silent participant, 0.2 s joined", noise.astype(np.int16), True),
    ):
        segmenter = SpeechSegmenter("bench")
        frames = [
            AudioFrame("bench", audio[n : n + frame], n / 48)
            for n in range(0, len(audio) - frame, frame)
        ]
        cpu = time.process_time()
        segments = 0
        for n in range(0, len(frames), batch if joined else 1):
            group = frames[n : n + batch] if joined else [frames[n]]
            for run in joined_runs(group):
                segments += len(segmenter.feed(run.pcm, run.timestamp_ms))
        cpu = time.process_time() - cpu
        print(
            f"== segmenter, {name}: {seconds:.0f} s, {segments} segments: RTF {cpu / seconds:.4f}, "
            f"{cpu / len(frames) * 1e6:.0f} us CPU per 20 ms frame =="
        )


@dataclass
class Sentence:
    speaker: str
    text: str
    start_s: float
    end_s: float
    delivered_at: float | None = None
    heard: str = ""


def script_for(index: int, seconds: float, rng: np.random.Generator) -> list[tuple[float, str]]:
    """(start second, text) for one speaker: sentences with 0.8-2.5 s pauses, staggered starts."""
    lines, cursor, k = [], 0.3 + 0.41 * index, index
    while True:
        text = SENTENCES[k % len(SENTENCES)]
        if cursor + len(flite(text)) / 16_000 > seconds:
            return lines
        lines.append((cursor, text))
        cursor += len(flite(text)) / 16_000 + float(rng.uniform(0.8, 2.5))
        k += 1


async def pipeline_latency(
    speakers: int,
    seconds: float,
    options: SegmenterOptions,
    provider: OfflineWhisperProvider,
    concurrency: int,
) -> None:
    rng = np.random.default_rng(speakers)
    streams: dict[str, np.ndarray] = {}
    sentences: list[Sentence] = []
    for i in range(speakers):
        name = f"speaker-{i}"
        audio = np.zeros(round(seconds * 16_000) + 16_000, dtype=np.float32)
        for start, text in script_for(i, seconds, rng):
            speech = flite(text)
            at = round(start * 16_000)
            audio[at : at + len(speech)] = speech
            sentences.append(Sentence(name, text, start, start + len(speech) / 16_000))
        streams[name] = (np.repeat(audio, 3) * 32767).astype(np.int16)  # crude 48 kHz is fine

    t0 = time.time() + 0.5
    start_ms = t0 * 1000

    async def on_result(segment, transcription, failure):
        now = time.time()
        seg_start = (segment.start_ms - start_ms) / 1000
        seg_end = (segment.end_ms - start_ms) / 1000
        for sentence in sentences:
            if sentence.speaker == segment.speaker_uuid and seg_start - 0.3 <= sentence.end_s <= (
                seg_end + 0.3
            ):
                sentence.delivered_at = now
                sentence.heard = transcription.transcript if transcription else "<failed>"

    with tempfile.TemporaryDirectory() as work_dir:
        transcriber = SegmentTranscriber(
            provider,
            on_result,
            work_dir=Path(work_dir),
            seal_with=DataKey.generate(),
            concurrency=concurrency,
        )
        segmenters = SpeakerSegmenters(options)
        frame = 48 * FRAME_MS
        total_frames = min(len(s) for s in streams.values()) // frame
        cpu = time.process_time()
        for n in range(total_frames):
            delay = t0 + n * FRAME_MS / 1000 - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            for name, pcm in streams.items():
                for segment in segmenters.feed(
                    name, pcm[n * frame : (n + 1) * frame], start_ms + n * FRAME_MS
                ):
                    transcriber.submit(segment)
        for segment in segmenters.flush_all():
            transcriber.submit(segment)
        await transcriber.drain()
        cpu = time.process_time() - cpu

    latencies = sorted(s.delivered_at - (t0 + s.end_s) for s in sentences if s.delivered_at)
    errors = sum(edit_distance(words(s.text), words(s.heard)) for s in sentences)
    reference = sum(len(words(s.text)) for s in sentences)
    missing = sum(1 for s in sentences if s.delivered_at is None)
    p50 = statistics.median(latencies)
    p90 = latencies[math.ceil(0.9 * len(latencies)) - 1]  # nearest rank
    print(
        f"speakers={speakers:2d}: sentences={len(sentences):3d} latency p50={p50:.2f}s "
        f"p90={p90:.2f}s max={latencies[-1]:.2f}s WER={errors / reference:.3f} "
        f"missing={missing} CPU={cpu / seconds * 100:.0f}% of a core"
    )


# --- 3. end to end through `sitin serve` and the API ------------------------------------------

ROOM_SIZE = 5  # speakers per room (one bot each)
POLL_S = 0.1
# The bot stamps audio by RTP time, which may run up to 500 ms ahead of arrival (room.py
# RESYNC_MS); pauses between sentences are >= 0.8 s, so a neighbour never matches.
COVER_TOLERANCE_S = 0.6


def speaker_pcm(directory: Path, name: str, text: str) -> np.ndarray:
    """48 kHz int16 flite speech, without flite's leading and trailing silence."""
    from support.speech import flite_wav, read_pcm_48k

    pcm = read_pcm_48k(flite_wav(directory, name, text))
    loud = np.flatnonzero(np.abs(pcm) > 0.02 * 32767)
    return pcm[loud[0] : loud[-1] + 1]


def speaker_process(base_url: str, roster: list[tuple[str, str]], sentences: int, conn) -> None:
    """Entry point of the speakers' process; talks to the benchmark through `conn`."""
    asyncio.run(_speakers(base_url, roster, sentences, conn))


async def _speakers(base_url: str, roster: list[tuple[str, str]], sentences: int, conn) -> None:
    from support.peers import TestParticipant

    class BotOnlySpeaker(TestParticipant):
        """Sends its microphone to the bot only. The mesh links to the other speakers would
        load this shared 2-core machine with encoders that have nothing to do with sitin."""

        async def join(self) -> dict:
            import websockets

            self._ws = await websockets.connect(self.ws_url, proxy=None)
            await self._send({"type": "join", "name": self.name})
            welcome = json.loads(await self._ws.recv())
            self.uuid = welcome["you"]["uuid"]
            self._reader = asyncio.create_task(self._read())
            return welcome  # no offers: only the bot, joining later, calls us

        def connected(self) -> bool:
            return any(pc.connectionState == "connected" for pc in self._pcs.values())

    people = [BotOnlySpeaker(base_url, room, name) for room, name in roster]
    with tempfile.TemporaryDirectory() as tmp:
        audio = {text: speaker_pcm(Path(tmp), f"s{i}", text) for i, text in enumerate(SENTENCES)}
    for person in people:
        await person.join()
    conn.send({"joined": {p.name: p.uuid for p in people}})
    for person in people:
        await person.wait_for(person.connected, timeout_s=60)
    conn.send({"connected": True})
    t0 = (await asyncio.to_thread(conn.recv))["go"]

    async def speak(index: int, person: BotOnlySpeaker) -> list[dict]:
        rng = np.random.default_rng(index)
        said = []
        await asyncio.sleep(max(0.0, t0 + 0.41 * index - time.time()))
        for k in range(sentences):
            text = SENTENCES[(index + k) % len(SENTENCES)]
            start = person.say(audio[text])
            end = start + len(audio[text]) / 48_000
            said.append({"uuid": person.uuid, "text": text, "start": start, "end": end})
            await asyncio.sleep(max(0.0, end + float(rng.uniform(0.8, 2.5)) - time.time()))
        return said

    spoken = await asyncio.gather(*(speak(i, p) for i, p in enumerate(people)))
    conn.send({"sentences": [s for said in spoken for s in said]})
    await asyncio.to_thread(conn.recv)  # "leave"
    for person in people:
        await person.leave()


@dataclass
class Heard:
    """An utterance as the API listed it, and when the poller first saw it."""

    speaker_uuid: str
    start: float
    end: float
    text: str
    seen_at: float


@dataclass
class TranscriptPoller:
    http: httpx.AsyncClient
    bot_ids: list[str]
    heard: dict[tuple[str, int], Heard] = field(default_factory=dict)

    async def poll_forever(self) -> None:
        while True:
            tick = time.monotonic()
            await asyncio.gather(*(self._poll(bot_id) for bot_id in self.bot_ids))
            await asyncio.sleep(max(0.0, tick + POLL_S - time.monotonic()))

    async def _poll(self, bot_id: str) -> None:
        response = await self.http.get(f"/api/v1/bots/{bot_id}/transcript")
        seen_at = time.time()
        if response.status_code == 404:  # no recording row yet
            return
        response.raise_for_status()
        for utterance in response.json():
            key = (utterance["speaker_uuid"], utterance["timestamp_ms"])
            if key not in self.heard:
                start = utterance["timestamp_ms"] / 1000
                self.heard[key] = Heard(
                    utterance["speaker_uuid"],
                    start,
                    start + utterance["duration_ms"] / 1000,
                    utterance["transcription"]["transcript"],
                    seen_at,
                )

    def readable_at(self, sentence: dict) -> float | None:
        """When an utterance of the sentence's speaker covering its end was first listed."""
        times = [
            u.seen_at
            for u in self.heard.values()
            if u.speaker_uuid == sentence["uuid"]
            and u.start <= sentence["end"] + COVER_TOLERANCE_S
            and u.end >= sentence["end"] - COVER_TOLERANCE_S
        ]
        return min(times, default=None)


def unlisted_utterances(data_dir: Path, bot_ids: list[str], heard: list[Heard]) -> str:
    """Utterances that explain `missing`: stored without a transcription (it failed), or listed
    with empty text. The text is sealed in the database, so emptiness is read from the API."""
    marks = ",".join("?" * len(bot_ids))
    with sqlite3.connect(data_dir / "sitin.db") as db:
        (failed,) = db.execute(
            f"SELECT count(*) FROM utterances WHERE transcription IS NULL AND bot_id IN ({marks})",
            bot_ids,
        ).fetchone()
    empty = sum(1 for utterance in heard if not utterance.text.strip())
    return f"{failed} failed, {empty} empty"


async def _wait_for_state(http: httpx.AsyncClient, bot_id: str, *states: str) -> None:
    deadline = time.monotonic() + 120
    while (state := (await http.get(f"/api/v1/bots/{bot_id}")).json()["state"]) not in states:
        if time.monotonic() > deadline:
            raise RuntimeError(f"bot {bot_id} stayed {state}, expected {states}")
        await asyncio.sleep(0.2)


async def latency_through_api(
    server, data_dir: Path, key: str, speakers: int, sentences: int, dump_dir: Path | None
) -> None:
    roster = [(f"bench{speakers}-{i // ROOM_SIZE}", f"Speaker {i}") for i in range(speakers)]
    rooms = sorted({room for room, _ in roster})
    mp = multiprocessing.get_context("spawn")
    conn, child_conn = mp.Pipe()
    process = mp.Process(
        target=speaker_process, args=(server.url, roster, sentences, child_conn), daemon=True
    )
    process.start()
    child_conn.close()  # so that recv() fails (EOFError) if the speakers' process dies
    headers = {"Authorization": f"Token {key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
        try:
            await asyncio.to_thread(conn.recv)  # joined
            bot_ids = [await _create_bot(http, f"{server.url}/rooms/{room}") for room in rooms]
            for bot_id in bot_ids:
                await _wait_for_state(http, bot_id, "joined_recording")
            await asyncio.to_thread(conn.recv)  # every speaker's link to its bot is up
            poller = TranscriptPoller(http, bot_ids)
            polling = asyncio.create_task(poller.poll_forever())
            load_before = os.getloadavg()[0]
            t0 = time.time() + 1.0
            cpu0 = cpu_seconds(server.process.pid)
            conn.send({"go": t0})
            said = (await asyncio.to_thread(conn.recv))["sentences"]
            wall = time.time() - t0  # CPU is measured while people speak
            cpu = cpu_seconds(server.process.pid) - cpu0
            deadline = time.time() + 60
            while time.time() < deadline and any(poller.readable_at(s) is None for s in said):
                await asyncio.sleep(POLL_S)
            load_after = os.getloadavg()[0]
            polling.cancel()
            for bot_id in bot_ids:
                await http.post(f"/api/v1/bots/{bot_id}/leave")
            conn.send("leave")
            for bot_id in bot_ids:
                await _wait_for_state(http, bot_id, "ended", "fatal_error")
            unlisted = unlisted_utterances(data_dir, bot_ids, list(poller.heard.values()))
        finally:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    if dump_dir is not None:
        dump_dir.mkdir(parents=True, exist_ok=True)
        heard = [vars(u) for u in poller.heard.values()]
        dump = {"t0": t0, "said": said, "heard": heard}
        (dump_dir / f"speakers-{speakers}.json").write_text(json.dumps(dump, indent=1))
    latencies = sorted(at - s["end"] for s in said if (at := poller.readable_at(s)) is not None)
    missing = len(said) - len(latencies)
    wer = word_error_rate(said, list(poller.heard.values()))
    p50 = statistics.median(latencies) if latencies else math.nan
    p90 = latencies[math.ceil(0.9 * len(latencies)) - 1] if latencies else math.nan
    print(
        f"speakers={speakers:2d} rooms/bots={len(rooms)}: sentences={len(said):3d} "
        f"latency p50={p50:.2f}s p90={p90:.2f}s max={max(latencies, default=math.nan):.2f}s "
        f"WER={wer:.3f} missing={missing} (unlisted utterances: {unlisted}) "
        f"server CPU={cpu / wall * 100:.0f}% of a core while speaking ({wall:.0f}s) "
        f"(load average {load_before:.1f} -> {load_after:.1f})",
        flush=True,
    )


async def _create_bot(http: httpx.AsyncClient, meeting_url: str) -> str:
    response = await http.post(
        "/api/v1/bots", json={"bot_name": "Notetaker", "meeting_url": meeting_url}
    )
    response.raise_for_status()
    return response.json()["id"]


def word_error_rate(said: list[dict], heard: list[Heard]) -> float:
    """Per speaker, everything said against everything listed (robust to split or merged
    utterances), summed over speakers."""
    errors = reference = 0
    for uuid in {s["uuid"] for s in said}:
        spoken = " ".join(s["text"] for s in said if s["uuid"] == uuid)
        theirs = sorted((u for u in heard if u.speaker_uuid == uuid), key=lambda u: u.start)
        errors += edit_distance(words(spoken), words(" ".join(u.text for u in theirs)))
        reference += len(words(spoken))
    return errors / reference


def through_api(speakers: list[int], sentences: int, dump_dir: Path | None) -> None:
    from support.process import start_server

    print(
        f"== end to end: end of sentence -> readable in GET /transcript (sitin serve, "
        f"{sentences} sentences per speaker, rooms of <= {ROOM_SIZE}, poll {POLL_S * 1000:.0f} ms, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}) ==",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "server.log"
        data_dir = Path(tmp) / "data"
        server = start_server({"SITIN_DATA_DIR": str(data_dir)}, log_path)
        try:
            key = re.search(r"Authorization: Token (\S+)", server.log()).group(1)
            for count in speakers:
                asyncio.run(latency_through_api(server, data_dir, key, count, sentences, dump_dir))
        finally:
            server.stop()


# --- 4. fidelity on real human speech -----------------------------------------------------------

MEETING_ORIGIN_MS = 1_000_000  # capture clock of the first frame (any value; not zero)


@dataclass
class Hearing:
    """What one variant heard of one meeting: (meeting second, word) per speaker, and its CPU."""

    words: dict[str, list[tuple[float, str]]]
    cpu_s: float


def heard_words(start_s: float, transcription) -> list[tuple[float, str]]:
    return [(start_s + w["start"], w["word"]) for w in transcription.words]


def offline_whole(meeting, provider) -> Hearing:
    cpu = time.process_time()
    words_by = {}
    for speaker in meeting.speakers:
        result = provider.transcribe_blocking(SpeechSegment(speaker, 0, meeting.track(speaker)))
        words_by[speaker] = heard_words(0.0, result)
    return Hearing(words_by, time.process_time() - cpu)


def accuracy_pass(meeting, provider) -> tuple[Hearing, float]:
    """The post-meeting pass as a bot runs it: the frames a bot receives kept in each
    participant's sealed track, then each whole track transcribed. Returns what it heard (with
    the CPU of both steps) and the seconds of track audio it transcribed."""
    from sitin.runtime.frames import ParticipantJoined
    from sitin.runtime.pipeline.tracks import ParticipantTracks
    from transcription.speech_audio import to_48k_int16

    words_by: dict[str, list] = {speaker: [] for speaker in meeting.speakers}
    pcm = {s: to_48k_int16(meeting.track(s)) for s in meeting.speakers}
    frame = 48 * FRAME_MS
    cpu = time.process_time()
    with tempfile.TemporaryDirectory() as work_dir:
        tracks = ParticipantTracks(Path(work_dir), DataKey.generate())
        for speaker in meeting.speakers:
            tracks.joined(ParticipantJoined(speaker, speaker, False, MEETING_ORIGIN_MS))
        for n in range(min(len(p) for p in pcm.values()) // frame):
            for speaker, samples in pcm.items():
                chunk = samples[n * frame : (n + 1) * frame]
                tracks.feed(speaker, chunk, MEETING_ORIGIN_MS + n * FRAME_MS)
        finished = tracks.close()
        for track in finished:
            for utterance in transcribe_track(provider, track):
                start_s = (utterance.timestamp_ms - MEETING_ORIGIN_MS) / 1000
                words_by[track.person.uuid] += [
                    (start_s + w["start"], w["word"]) for w in utterance.transcription["words"]
                ]
        audio_s = sum(track.seconds for track in finished)
        tracks.discard()
    return Hearing(words_by, time.process_time() - cpu), audio_s


def offline_per_turn(meeting, provider) -> Hearing:
    cpu = time.process_time()
    words_by: dict[str, list] = {speaker: [] for speaker in meeting.speakers}
    for turn in meeting.turns:
        result = provider.transcribe_blocking(
            SpeechSegment(turn.speaker, 0, np.array(turn.recording.samples))
        )
        words_by[turn.speaker] += heard_words(turn.start_s, result)
    return Hearing(words_by, time.process_time() - cpu)


async def live(
    meeting,
    provider,
    *,
    input_rate: int,
    speed: float,
    bots: int = 1,
    options: SegmenterOptions | None = None,
) -> tuple[Hearing, list[float], float]:
    """The bot's path: frames of every participant, in step, at `speed` x real time (0: at once),
    handed to the segmenters 0.2 s at a time as a bot's segmentation stage does.

    With `bots` > 1, that many bots hear the meeting at once in this process (one segmenter set
    and transcriber each, one shared provider), each shifted round the meeting's clock so that
    their turns do not line up. Returns what bot 0 heard (with the CPU of all), every segment's
    delay from the end of its audio to its result (s), and how long the last results took after
    the audio ended (the backlog left).
    """
    from transcription.speech_audio import to_48k_int16

    if input_rate == 48_000:
        tracks = {s: to_48k_int16(meeting.track(s)) for s in meeting.speakers}
    else:
        tracks = {s: (meeting.track(s) * 32767).astype(np.int16) for s in meeting.speakers}
    frame = input_rate * FRAME_MS // 1000
    frames = min(len(pcm) for pcm in tracks.values()) // frame
    batch = round(SEGMENT_BATCH_S * 1000 / FRAME_MS)  # frames joined per feed, as in a bot
    words_by: dict[str, list] = {speaker: [] for speaker in meeting.speakers}
    delays: list[float] = []
    t0 = time.monotonic()

    def fed_at(capture_ms: float) -> float:
        return t0 + (capture_ms - MEETING_ORIGIN_MS) / 1000 / (speed or math.inf)

    def on_result_of(bot: int):
        async def on_result(segment, transcription, failure):
            if speed:
                delays.append(time.monotonic() - fed_at(segment.end_ms))
            if transcription is not None and bot == 0:
                start_s = (segment.start_ms - MEETING_ORIGIN_MS) / 1000
                words_by[segment.speaker_uuid] += heard_words(start_s, transcription)

        return on_result

    cpu = time.process_time()
    with tempfile.TemporaryDirectory() as work_dir:
        pipelines = []
        for bot in range(bots):
            shift = frame * round(frames * bot / bots)
            streams = {s: np.roll(pcm[: frames * frame], shift) for s, pcm in tracks.items()}
            transcriber = SegmentTranscriber(
                provider,
                on_result_of(bot),
                work_dir=Path(work_dir) / str(bot),
                seal_with=DataKey.generate(),
            )
            segmenters = SpeakerSegmenters(options, input_rate=input_rate)
            pipelines.append((streams, segmenters, transcriber))
        t0 = time.monotonic()
        for n in range(frames):
            if speed and (delay := t0 + n * FRAME_MS / 1000 / speed - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            elif not speed and n % 50 == 0:
                await asyncio.sleep(0)  # let the workers start
            if (n + 1) % batch and n + 1 < frames:
                continue  # the stage hands each participant's audio over 0.2 s at a time
            first = n - n % batch
            for streams, segmenters, transcriber in pipelines:
                for speaker, pcm in streams.items():
                    chunk = pcm[first * frame : (n + 1) * frame]
                    capture_ms = MEETING_ORIGIN_MS + first * FRAME_MS
                    for segment in segmenters.feed(speaker, chunk, capture_ms):
                        transcriber.submit(segment)
        audio_end = time.monotonic()
        for _, segmenters, transcriber in pipelines:
            for segment in segmenters.flush_all():
                transcriber.submit(segment)
        await asyncio.gather(*(transcriber.drain() for _, _, transcriber in pipelines))
        backlog_s = time.monotonic() - audio_end
    for words_of in words_by.values():
        words_of.sort()
    return Hearing(words_by, time.process_time() - cpu), sorted(delays), backlog_s


class CountedEncoder:
    """The CTranslate2 model with its encoder passes counted."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.calls = 0

    def encode(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.model.encode(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


def density(
    bot_counts: list[int], *, cpu_threads: int = 1, workers: int = 1, compare: bool = True
) -> None:
    """N bots hearing the turn-taking meeting in real time in one process, one model: CPU per bot
    and how far behind the transcripts fall, one segment per window against packed windows (only
    packed with `compare` False). `workers` windows are decoded at once (each on its own thread,
    sharing the model), each with `cpu_threads` threads."""
    from support.speech import normalise
    from transcription.real_speech import dropped_turns, repeated_beyond_reference
    from transcription.real_speech import meeting as turn_taking

    meeting = turn_taking()
    print(
        f"== transcribing bots in one process, real time: the {meeting.seconds:.0f} s turn-taking "
        f"meeting ({len(meeting.speakers)} participants) per bot, cpu_threads={cpu_threads}, "
        f"decode workers={workers}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (CPU figures noisy under "
        f"load; compare the rows of one run) ==",
        flush=True,
    )
    print(
        f"{'bots':>4} {'windows':14s} {'CPU/bot':>8} {'delay p50':>9} {'p90':>6} {'backlog':>8} "
        f"{'WER':>5} {'rep':>3} {'drop':>4}"
    )
    for bots in bot_counts:
        for packed in (False, True) if compare else (True,):
            provider = OfflineWhisperProvider(
                cpu_threads=cpu_threads, num_workers=workers, packed=packed
            )
            asyncio.run(provider.warm_up())
            model = shared_model(provider.models, provider.runtime)
            encoder = model.model = CountedEncoder(model.model)
            hearing, delays, backlog_s = asyncio.run(
                live(meeting, provider, input_rate=48_000, speed=1.0, bots=bots)
            )
            stats = provider.packer.stats
            p50 = statistics.median(delays)
            p90 = delays[math.ceil(0.9 * len(delays)) - 1]
            errors = repeats = dropped = said = 0
            for speaker in meeting.speakers:  # what the first bot heard, every speaker together
                reference = normalise(meeting.reference(speaker))
                heard = normalise(" ".join(w for _, w in hearing.words[speaker]))
                errors += edit_distance(reference, heard)
                said += len(reference)
                repeats += repeated_beyond_reference(heard, reference)
                dropped += dropped_turns(meeting, speaker, hearing.words[speaker])
            print(
                f"{bots:>4} {'packed' if packed else 'one segment':14s} "
                f"{hearing.cpu_s / bots / meeting.seconds * 100:7.1f}% {p50:8.2f}s {p90:5.2f}s "
                f"{backlog_s:7.1f}s {errors / said:5.3f} {repeats:3d} {dropped:4d}  (CPU % of a "
                "core per bot; delay: end of a segment's audio -> its result; WER, phrases said "
                "twice, turns dropped: the first bot's, all speakers)",
                flush=True,
            )
            print(
                f"     {stats.windows} windows of {stats.segments / max(stats.windows, 1):.1f} "
                f"segments, {encoder.calls / max(stats.windows, 1):.2f} encoder passes each "
                f"(decodes alone included); {stats.missed} segments a decode stopped before, "
                f"{stats.decoded_alone} decoded alone",
                flush=True,
            )


def fidelity(speed: float, stages: bool, options: SegmenterOptions) -> None:
    from support.speech import normalise
    from transcription.real_speech import dropped_turns, reading, repeated_beyond_reference
    from transcription.real_speech import meeting as turn_taking

    provider = OfflineWhisperProvider(cpu_threads=1)
    unpacked = OfflineWhisperProvider(cpu_threads=1, packed=False, models=provider.models)
    asyncio.run(provider.warm_up())
    print(
        f"== fidelity on real speech: live pipeline vs the same model offline on each speaker's "
        f"whole track (tiny.en int8, cpu_threads=1, min_silence={options.min_silence_ms} ms, "
        f"context={options.context_ms} ms, "
        f"frames at {speed or 'max'}x real time, "
        f"load average {os.getloadavg()[0]:.1f}; CPU figures are noisy under load) ==",
        flush=True,
    )
    for meeting in (reading(), turn_taking()):
        speech_s = sum(turn.recording.seconds for turn in meeting.turns)
        print(
            f"-- {meeting.name}: {len(meeting.speakers)} speakers, {len(meeting.turns)} turns, "
            f"{meeting.seconds:.1f} s, {meeting.overlap_fraction() * 100:.0f} % of speech time "
            f"overlapped --",
            flush=True,
        )
        variants = {"offline whole track": offline_whole(meeting, provider)}
        if stages:
            variants["offline, each turn alone"] = offline_per_turn(meeting, provider)
            variants["live, 16 kHz frames"] = asyncio.run(
                live(meeting, provider, input_rate=16_000, speed=speed, options=options)
            )[0]
        variants["live, one segment a window"] = asyncio.run(
            live(meeting, unpacked, input_rate=48_000, speed=speed, options=options)
        )[0]
        variants["live (packed windows)"] = asyncio.run(
            live(meeting, provider, input_rate=48_000, speed=speed, options=options)
        )[0]
        variants["after the accuracy pass"], pass_audio_s = accuracy_pass(meeting, provider)
        baseline = variants["offline whole track"]
        print(f"{'variant':25s} {'speaker':8s}  WER  offline target rep drop  heard")
        for name, hearing in variants.items():
            for speaker in meeting.speakers:
                reference = normalise(meeting.reference(speaker))
                heard = normalise(" ".join(w for _, w in hearing.words[speaker]))
                offline = normalise(" ".join(w for _, w in baseline.words[speaker]))
                wer = edit_distance(reference, heard) / len(reference)
                base = edit_distance(reference, offline) / len(reference)
                target = "ok" if wer <= 1.1 * base + 0.02 else "MISSED"
                print(
                    f"{name:25s} {speaker:8s} {wer:5.3f} {base:5.3f} {target:6s} "
                    f"{repeated_beyond_reference(heard, reference):3d} "
                    f"{dropped_turns(meeting, speaker, hearing.words[speaker]):4d}  "
                    f"{' '.join(heard)[:70]}"
                )
            print(
                f"{name:25s} CPU {hearing.cpu_s:.1f} s: {hearing.cpu_s / speech_s:.3f} CPU-s per "
                f"speech-s, {hearing.cpu_s / meeting.seconds:.3f} per meeting-s",
                flush=True,
            )
        accuracy = variants["after the accuracy pass"]
        print(
            f"{'accuracy pass cost':25s} {accuracy.cpu_s / pass_audio_s:.3f} CPU-s per audio-s "
            f"of participant track ({pass_audio_s:.0f} s of tracks, sealing and resampling "
            "included); WER side by side per speaker:",
            flush=True,
        )
        for speaker in meeting.speakers:
            reference = normalise(meeting.reference(speaker))
            rates = [
                edit_distance(
                    reference, normalise(" ".join(w for _, w in variants[name].words[speaker]))
                )
                / len(reference)
                for name in (
                    "live (packed windows)",
                    "offline whole track",
                    "after the accuracy pass",
                )
            ]
            print(
                f"{'':25s} {speaker:8s} live {rates[0]:.3f}  offline {rates[1]:.3f}  "
                f"after the pass {rates[2]:.3f}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speakers", type=int, nargs="*", default=[1, 5, 10])
    parser.add_argument("--seconds", type=float, default=20.0, help="speech per run")
    parser.add_argument("--min-silence-ms", type=int, default=SegmenterOptions().min_silence_ms)
    parser.add_argument(
        "--context-ms",
        type=int,
        default=SegmenterOptions().context_ms,
        help="the speaker's earlier speech decoded with each segment (0: none)",
    )
    parser.add_argument("--cpu-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--workers", type=int, default=1, help="parallel whisper calls")
    parser.add_argument("--skip-rtf", action="store_true")
    parser.add_argument(
        "--through-api", action="store_true", help="only the end-to-end figures (sitin serve)"
    )
    parser.add_argument("--sentences", type=int, default=6, help="per speaker, --through-api")
    parser.add_argument(
        "--dump-dir", type=Path, help="--through-api: write what was said and heard (JSON) here"
    )
    parser.add_argument(
        "--fidelity", action="store_true", help="only the fidelity figures on real speech"
    )
    parser.add_argument(
        "--speed", type=float, default=0.0, help="--fidelity: x real time for frames (0: at once)"
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="--fidelity: also each turn alone offline, and the segmenter fed 16 kHz",
    )
    parser.add_argument(
        "--bots", help="only N bots per process in real time, e.g. 1,6,12 (packed vs not)"
    )
    parser.add_argument(
        "--bot-cpu-threads", type=int, default=1, help="--bots: threads per decode (cpu_threads)"
    )
    parser.add_argument(
        "--packed-only", action="store_true", help="--bots: skip the one-segment-a-window rows"
    )
    args = parser.parse_args()
    if args.fidelity:
        options = SegmenterOptions(min_silence_ms=args.min_silence_ms, context_ms=args.context_ms)
        fidelity(args.speed, args.stages, options)
        return
    if args.bots:
        density(
            [int(n) for n in args.bots.split(",")],
            cpu_threads=args.bot_cpu_threads,
            workers=args.workers,
            compare=not args.packed_only,
        )
        return
    if args.through_api:
        through_api(args.speakers, args.sentences, args.dump_dir)
        return

    if not args.skip_rtf:
        segmenter_cost()
        engine_rtf()
    options = SegmenterOptions(min_silence_ms=args.min_silence_ms, context_ms=args.context_ms)
    provider = OfflineWhisperProvider(
        cpu_threads=args.cpu_threads,
        num_workers=args.workers,
    )
    print(
        f"== pipeline latency: end of sentence -> transcript (min_silence={options.min_silence_ms}"
        f" ms, context={options.context_ms} ms, cpu_threads={args.cpu_threads}, "
        f"workers={args.workers}, "
        f"{os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}) =="
    )
    asyncio.run(provider.warm_up())
    for speakers in args.speakers:
        asyncio.run(pipeline_latency(speakers, args.seconds, options, provider, args.workers))


if __name__ == "__main__":
    sys.exit(main())
