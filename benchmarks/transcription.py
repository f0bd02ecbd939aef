"""Offline transcription figures: engine speed, and live pipeline latency with several speakers.

    .venv/bin/python benchmarks/transcription.py                  # everything (about 3 minutes)
    .venv/bin/python benchmarks/transcription.py --speakers 5 --seconds 30

1. Real-time factor (RTF) of faster-whisper tiny.en int8 on flite sentences, with 1 and with all
   CPU threads (wall time / audio time; CPU s per audio s).
2. Latency from the end of a spoken sentence to its transcript reaching `on_result`, through
   SpeechSegmenter + SegmentTranscriber + the offline provider, with N speakers talking at once and
   their 20 ms frames fed in real time on one event loop. Also WER, to show speed costs no accuracy.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from faster_whisper.audio import decode_audio

from sitin.runtime.pipeline.speech import SegmenterOptions, SpeakerSegmenters, SpeechSegmenter
from sitin.runtime.pipeline.transcriber import SegmentTranscriber
from sitin.transcription.base import SpeechSegment
from sitin.transcription.offline import OfflineWhisperProvider

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please schedule the project review meeting for next Tuesday morning.",
    "We need to finish the budget report before the end of the month.",
    "Our customers asked for a simpler way to export their data.",
    "The new office opens in the spring with room for many people.",
    "Thank you all for joining the call this morning.",
)
FRAME_MS = 20


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
    for fit, threads in itertools.product((True, False), sorted({1, os.cpu_count() or 1})):
        provider = OfflineWhisperProvider(cpu_threads=threads, fit_encoder_window=fit)
        provider.transcribe_blocking(SpeechSegment("warm", 0, audio[0]))
        wall, cpu = time.perf_counter(), time.process_time()
        for samples in audio:
            provider.transcribe_blocking(SpeechSegment("s", 0, samples))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        window = "fitted window" if fit else "full 30 s window"
        print(
            f"{window}, cpu_threads={threads}: RTF {wall / seconds:.3f} (wall), "
            f"{cpu / seconds:.3f} CPU-s per audio-s, {seconds:.1f} s of audio"
        )


def segmenter_cost() -> None:
    """CPU the VAD segmenter spends per 20 ms frame of 48 kHz input (resampling included)."""
    speech = np.concatenate(
        [np.concatenate([flite(t), np.zeros(16_000, np.float32)]) for t in SENTENCES]
    )
    pcm = (np.repeat(np.tile(speech, 3), 3) * 32767).astype(np.int16)
    segmenter = SpeechSegmenter("bench")
    frame = 48 * FRAME_MS
    cpu = time.process_time()
    segments = 0
    for n in range(0, len(pcm) - frame, frame):
        segments += len(segmenter.feed(pcm[n : n + frame], n // 48))
    cpu = time.process_time() - cpu
    seconds = len(pcm) / 48_000
    print(
        f"== segmenter: {seconds:.0f} s of speech, {segments} segments: RTF {cpu / seconds:.4f}, "
        f"{cpu / (len(pcm) / frame) * 1e6:.0f} us CPU per 20 ms frame =="
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
            provider, on_result, work_dir=Path(work_dir), concurrency=concurrency
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speakers", type=int, nargs="*", default=[1, 5, 10])
    parser.add_argument("--seconds", type=float, default=20.0, help="speech per run")
    parser.add_argument("--min-silence-ms", type=int, default=SegmenterOptions().min_silence_ms)
    parser.add_argument("--cpu-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--workers", type=int, default=1, help="parallel whisper calls")
    parser.add_argument("--full-window", action="store_true", help="pad to 30 s as Whisper does")
    parser.add_argument("--skip-rtf", action="store_true")
    args = parser.parse_args()

    if not args.skip_rtf:
        segmenter_cost()
        engine_rtf()
    options = SegmenterOptions(min_silence_ms=args.min_silence_ms)
    provider = OfflineWhisperProvider(
        cpu_threads=args.cpu_threads,
        num_workers=args.workers,
        fit_encoder_window=not args.full_window,
    )
    print(
        f"== pipeline latency: end of sentence -> transcript (min_silence={options.min_silence_ms}"
        f" ms, cpu_threads={args.cpu_threads}, workers={args.workers}, "
        f"{'full' if args.full_window else 'fitted'} window, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}) =="
    )
    asyncio.run(provider.warm_up())
    for speakers in args.speakers:
        asyncio.run(pipeline_latency(speakers, args.seconds, options, provider, args.workers))


if __name__ == "__main__":
    sys.exit(main())
