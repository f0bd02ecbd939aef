"""Transcriber backlog: a slow provider makes segments wait on disk; none is lost or reordered."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from sitin.encryption import DataKey
from sitin.runtime.pipeline.transcriber import SegmentTranscriber
from sitin.transcription.base import (
    SpeechSegment,
    Transcription,
    TranscriptionFailed,
    TranscriptionProvider,
)
from sitin.transcription.openai import OpenAITranscriptionProvider
from sitin.transcription.wav import encode_wav
from transcription.fake_asr_servers import FakeServer, Reply, openai_verbose_json

KEY = DataKey.generate()  # what the bot's scratch files are sealed under


def make_segment(index: int, seconds: float = 1.0) -> SpeechSegment:
    """Distinct lengths, so the fake server's answer ("Heard N samples.") names the segment."""
    samples = round(seconds * 16_000) + 160 * index
    rng = np.random.default_rng(index)
    audio = (rng.standard_normal(samples) * 0.1).astype(np.float32)
    return SpeechSegment(f"speaker-{index % 2}", 10_000 + index * 2_000, audio)


class Results:
    def __init__(self) -> None:
        self.delivered: list[tuple[SpeechSegment, str | None, TranscriptionFailed | None]] = []
        self.arrived = asyncio.Event()

    async def on_result(self, segment, transcription, failure) -> None:
        text = transcription.transcript if transcription else None
        self.delivered.append((segment, text, failure))
        self.arrived.set()


def provider_for(server: FakeServer) -> OpenAITranscriptionProvider:
    return OpenAITranscriptionProvider(api_key="k", model="whisper-1", base_url=server.url)


def test_slow_provider_backlog_spills_to_disk_and_drains_in_order(tmp_path: Path):
    def slow(request):
        return Reply(body=openai_verbose_json(request).body, delay_s=0.1)

    async def scenario(server: FakeServer):
        results = Results()
        provider = provider_for(server)
        work_dir = tmp_path / "spill"
        transcriber = SegmentTranscriber(
            provider, results.on_result, work_dir=work_dir, seal_with=KEY, max_memory_seconds=2.5
        )
        first_batch = [make_segment(i) for i in range(10)]
        for segment in first_batch:
            transcriber.submit(segment)  # capture goes on: submit never waits
        spilled_files = sorted(p.name for p in work_dir.iterdir())
        spilled_bytes = [p.read_bytes() for p in sorted(work_dir.iterdir())]
        memory_after_submit = transcriber.memory_seconds
        backlog_after_submit = transcriber.backlog_seconds

        while len(results.delivered) < 3:  # memory frees up; newer segments must still wait
            results.arrived.clear()
            await results.arrived.wait()
        second_batch = [make_segment(i) for i in range(10, 13)]
        for segment in second_batch:
            transcriber.submit(segment)

        stats = await transcriber.drain()
        await provider.aclose()
        return (
            results,
            stats,
            (spilled_files, spilled_bytes),
            memory_after_submit,
            backlog_after_submit,
            work_dir,
        )

    with FakeServer(slow) as server:
        results, stats, (spilled, stored), memory, backlog, work_dir = asyncio.run(scenario(server))

    assert memory <= 2.5
    assert backlog > 10
    assert len(spilled) == 8 and stats.spilled >= 8
    # Spilled audio is sealed under the bot's key: no WAV header, none of the samples on disk.
    spilled_pcm = [encode_wav(make_segment(i).samples)[44:] for i in range(2, 10)]
    for data in stored:
        assert not data.startswith(b"RIFF") and b"WAVE" not in data
        assert not any(pcm[:256] in data for pcm in spilled_pcm)
    assert any(pcm[:256] in encode_wav(make_segment(2).samples) for pcm in spilled_pcm)
    assert (stats.done, stats.failed, stats.abandoned) == (13, 0, 0)
    expected = [make_segment(i) for i in range(13)]
    assert [seg.start_ms for seg, _, _ in results.delivered] == [s.start_ms for s in expected]
    for (segment, text, failure), original in zip(results.delivered, expected, strict=True):
        assert failure is None
        assert segment.speaker_uuid == original.speaker_uuid
        assert text == f"Heard {len(original.samples)} samples."
        assert np.allclose(segment.samples, original.samples, atol=1 / 16_000)
    assert list(work_dir.iterdir()) == []  # spill files are gone once delivered


def test_retryable_failures_are_retried_then_succeed(tmp_path: Path):
    answers = [Reply(503, {"error": {"message": "overloaded"}})] * 2

    def flaky(request):
        return answers.pop(0) if answers else openai_verbose_json(request)

    with FakeServer(flaky) as server:
        results = Results()
        stats = asyncio.run(run_once(server, results, tmp_path, [make_segment(0)]))

    assert len(server.requests) == 3
    assert (stats.done, stats.failed, stats.retries) == (1, 0, 2)
    assert results.delivered[0][1] == "Heard 16000 samples."


def test_failures_are_reported_with_the_providers_message(tmp_path: Path):
    def refuse(request):
        if request.audio_samples() == 16_000:
            return Reply(400, {"error": {"message": "Audio file is too short."}})
        return Reply(500, {"error": {"message": "The server had an error."}})

    with FakeServer(refuse) as server:
        results = Results()
        segments = [make_segment(0), make_segment(1)]
        stats = asyncio.run(run_once(server, results, tmp_path, segments, max_attempts=3))

    assert len(server.requests) == 1 + 3  # not retried, then retried until exhausted
    assert (stats.done, stats.failed) == (0, 2)
    (_, text_a, refused), (_, text_b, exhausted) = results.delivered
    assert text_a is None and "Audio file is too short." in refused.reason
    assert text_b is None and "The server had an error." in exhausted.reason


def test_a_failing_callback_does_not_stop_the_worker(tmp_path: Path):
    delivered = []

    async def on_result(segment, transcription, failure):
        delivered.append(segment.start_ms)
        if len(delivered) == 1:
            raise RuntimeError("database is down")

    async def scenario(server):
        provider = provider_for(server)
        transcriber = SegmentTranscriber(provider, on_result, work_dir=tmp_path, seal_with=KEY)
        for i in range(3):
            transcriber.submit(make_segment(i))
        stats = await transcriber.drain()
        await provider.aclose()
        return stats

    with FakeServer(openai_verbose_json) as server:
        stats = asyncio.run(scenario(server))
    assert len(delivered) == 3
    assert (stats.done, stats.callback_errors) == (3, 1)


def test_closing_early_counts_what_was_not_transcribed(tmp_path: Path):
    async def scenario(server: FakeServer):
        provider = provider_for(server)
        transcriber = SegmentTranscriber(
            provider, Results().on_result, work_dir=tmp_path, seal_with=KEY, max_memory_seconds=1.0
        )
        for i in range(4):
            transcriber.submit(make_segment(i))
        async with asyncio.timeout(10):  # until the first one is in flight
            while not server.requests:
                await asyncio.sleep(0.01)
        stats = await transcriber.aclose()
        await provider.aclose()
        return stats

    with FakeServer(lambda r: Reply(body={"text": "late"}, delay_s=1.0)) as server:
        stats = asyncio.run(scenario(server))
    assert (stats.done, stats.abandoned) == (0, 4)
    assert list(tmp_path.iterdir()) == []


async def run_once(server, results, work_dir, segments, max_attempts=3):
    provider = provider_for(server)
    transcriber = SegmentTranscriber(
        provider,
        results.on_result,
        work_dir=work_dir,
        seal_with=KEY,
        max_attempts=max_attempts,
        retry_delay_s=0.01,
    )
    for segment in segments:
        transcriber.submit(segment)
    stats = await transcriber.drain()
    await provider.aclose()
    return stats


def test_segments_in_flight_together_are_still_delivered_in_submission_order(tmp_path: Path):
    def later_answers_first(request):
        reply = openai_verbose_json(request)
        index = (int(reply.body["text"].split()[1]) - 16_000) // 160  # make_segment's length
        return Reply(body=reply.body, delay_s=0.05 * (6 - index))

    async def scenario(server):
        results = Results()
        provider = provider_for(server)
        transcriber = SegmentTranscriber(
            provider, results.on_result, work_dir=tmp_path, seal_with=KEY, concurrency=4
        )
        for i in range(6):
            transcriber.submit(make_segment(i))
        stats = await transcriber.drain()
        await provider.aclose()
        return results, stats

    with FakeServer(later_answers_first) as server:
        results, stats = asyncio.run(scenario(server))
    assert (stats.done, stats.failed) == (6, 0)
    assert [seg.start_ms for seg, _, _ in results.delivered] == [
        make_segment(i).start_ms for i in range(6)
    ]


def test_a_spilled_segment_altered_on_disk_fails_alone_and_the_rest_is_transcribed(
    tmp_path: Path,
):
    async def scenario(server: FakeServer):
        results = Results()
        provider = provider_for(server)
        work_dir = tmp_path / "spill"
        transcriber = SegmentTranscriber(
            provider, results.on_result, work_dir=work_dir, seal_with=KEY, max_memory_seconds=0
        )
        async with asyncio.timeout(10):
            for i in range(3):
                transcriber.submit(make_segment(i))
            victim = sorted(work_dir.iterdir())[1]
            data = bytearray(victim.read_bytes())
            data[-1] ^= 0x01  # one bit of the tag
            victim.write_bytes(bytes(data))
            stats = await transcriber.drain()
        await provider.aclose()
        return results, stats

    with FakeServer(openai_verbose_json) as server:
        results, stats = asyncio.run(scenario(server))
    assert (stats.done, stats.failed) == (2, 1)
    failures = [failure for _, _, failure in results.delivered]
    assert failures[0] is None and failures[2] is None
    assert "could not be read back" in failures[1].reason


def test_context_goes_to_the_provider_with_its_segment_and_counts_as_memory(tmp_path: Path):
    class Recording(TranscriptionProvider):
        def __init__(self) -> None:
            self.seen: list[SpeechSegment] = []

        async def transcribe(self, segment: SpeechSegment) -> Transcription:
            self.seen.append(segment)
            return Transcription(transcript="ok")

    async def scenario():
        provider = Recording()
        results = Results()
        transcriber = SegmentTranscriber(
            provider, results.on_result, work_dir=tmp_path, seal_with=KEY, max_memory_seconds=7
        )
        context = np.full(16_000 * 2, 0.5, np.float32)
        for index in range(3):  # 1 + 2 s in memory twice; the third would pass 7 s: spilled
            segment = make_segment(index)
            transcriber.submit(SpeechSegment(segment.speaker_uuid, 0, segment.samples, context))
        held = transcriber.memory_seconds
        await transcriber.drain()
        return provider.seen, held, transcriber.memory_seconds

    async def behind():
        provider = Recording()
        transcriber = SegmentTranscriber(
            provider, Results().on_result, work_dir=tmp_path, seal_with=KEY, concurrency=1
        )
        context = np.zeros(16_000, np.float32)
        for index in range(3):  # 36 s waiting: the first is sent while more than 30 s wait
            segment = make_segment(index, seconds=12)
            transcriber.submit(SpeechSegment(segment.speaker_uuid, 0, segment.samples, context))
        stats = await transcriber.drain()
        return provider.seen, stats

    late, stats = asyncio.run(behind())
    assert [s.context is not None for s in late] == [False, True, True]
    assert stats.context_dropped == 1
    seen, held, after = asyncio.run(scenario())
    assert held == pytest.approx(2 * 3 + 0.01, abs=0.02)
    assert after == pytest.approx(0, abs=1e-9)
    assert [s.context is not None for s in seen] == [True, True, False]  # spilled: no context
    assert all(np.array_equal(s.context, np.full(32_000, 0.5, np.float32)) for s in seen[:2])
