"""Feed frames to pipeline stages and collect what comes out: no meeting, no network."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from sitin.runtime.frames import EndOfStream, Frame
from sitin.runtime.pipeline.base import Pipeline, Stage


async def run_stages(stages: Iterable[Stage], frames: Iterable[Frame]) -> list[Frame]:
    """Everything that leaves the last stage when `frames` (then EndOfStream) are put in."""
    out: list[Frame] = []

    async def collect(frame: Frame) -> None:
        out.append(frame)

    pipeline = Pipeline(list(stages), out=collect)
    pipeline.start()
    for frame in frames:
        pipeline.put(frame)
    await pipeline.close()
    assert out and isinstance(out[-1], EndOfStream), "EndOfStream must come out last"
    return out[:-1]


def feed(*stages: Stage, frames: Iterable[Frame]) -> list[Frame]:
    """Run `run_stages` on a fresh event loop (for synchronous tests)."""
    return asyncio.run(run_stages(stages, frames))


def kinds(frames: Iterable[Frame]) -> list[str]:
    return [type(frame).__name__ for frame in frames]
