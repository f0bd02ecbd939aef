"""The one interface every pipeline stage implements, and the pipeline that connects stages.

A stage receives each frame (``runtime/frames.py``) through ``process(frame)`` and pushes what
moves on with ``await self.emit(frame)``: the frames it makes, and every frame it does not take
out of the stream, in the order they came. It may also emit later from a task of its own (the
transcription stage emits an Utterance when the provider answers). A stage that works on its own
as well (a connection, a clock) begins in ``start()``, before the first frame. ``EndOfStream``
comes last: a stage finishes its work (flush, drain, close) before passing it on, so once it has
left the last stage every earlier frame has been handled everywhere.

``Pipeline`` links each stage's emit to the next stage's process. Calls into one stage never
overlap (each stage has a lock), so a stage handles one frame at a time even when its upstream
emits from two tasks. A stage that raises loses that frame only: the error is logged and the
pipeline goes on (and an EndOfStream it failed on is still passed on, so later stages close).
Frames enter with ``put`` (never blocks; called from the adapter's event callback) and are handed
to the first stage, in order, by one task.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from sitin.runtime.frames import EndOfStream, Frame

log = logging.getLogger(__name__)

Emit = Callable[[Frame], Awaitable[None]]


async def discard(frame: Frame) -> None:
    """Where frames leaving the last stage go unless the pipeline is given somewhere else."""


class Stage(abc.ABC):
    """One step of a bot's pipeline: frames in through `process`, frames out through `emit`."""

    _emit: Emit = discard

    def link(self, emit: Emit) -> None:
        """Send this stage's output to `emit` (the pipeline does this; tests may too)."""
        self._emit = emit

    async def emit(self, frame: Frame) -> None:
        await self._emit(frame)

    async def start(self) -> None:  # noqa: B027 (most stages have no work of their own)
        """Begin the stage's own work (tasks, connections); called once, before any frame."""

    @abc.abstractmethod
    async def process(self, frame: Frame) -> None:
        """Handle one frame; emit what moves on (at least every frame this stage ignores)."""


class Pipeline:
    def __init__(self, stages: Sequence[Stage], *, out: Emit = discard) -> None:
        if not stages:
            raise ValueError("a pipeline needs at least one stage")
        self.stages = tuple(stages)
        inputs = [_serialised(stage) for stage in self.stages]
        for stage, following in zip(self.stages, [*inputs[1:], out], strict=True):
            stage.link(following)
        self._first = inputs[0]
        self._inbox: asyncio.Queue[Frame] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._ending = False

    def put(self, frame: Frame) -> None:
        """Queue a frame for the first stage. Never blocks; call on the pipeline's event loop."""
        if not self._ending:
            self._inbox.put_nowait(frame)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pipeline")

    async def close(self) -> None:
        """Send EndOfStream after everything queued and wait until it has left the last stage."""
        if not self._ending:
            self._inbox.put_nowait(EndOfStream())
            self._ending = True
        self.start()
        assert self._task is not None
        await asyncio.shield(self._task)

    def abort(self) -> None:
        """Stop handing frames on now (close() took too long); stages are left as they are."""
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        for stage in self.stages:
            try:
                await stage.start()
            except Exception:  # the stage still gets its frames; what it failed to start is lost
                log.exception("%s failed to start", type(stage).__name__)
        while True:
            frame = await self._inbox.get()
            await self._first(frame)
            if isinstance(frame, EndOfStream):
                return


def _serialised(stage: Stage) -> Emit:
    lock = asyncio.Lock()

    async def process(frame: Frame) -> None:
        async with lock:
            try:
                await stage.process(frame)
            except Exception:
                log.exception("%s failed on a %s frame", type(stage).__name__, type(frame).__name__)
                if isinstance(frame, EndOfStream):
                    await stage.emit(frame)

    return process
