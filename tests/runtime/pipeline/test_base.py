"""The stage interface and the pipeline that connects stages: order, one frame at a time per
stage, errors contained, EndOfStream always reaching the end."""

import asyncio

from sitin.runtime.frames import (
    ChatReceived,
    EndOfStream,
    Frame,
    ParticipantLeft,
)
from sitin.runtime.pipeline.base import Pipeline, Stage
from support.pipeline import feed, kinds


class Tag(Stage):
    """Appends its name to chat text, passes everything else on unchanged."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def process(self, frame: Frame) -> None:
        if isinstance(frame, ChatReceived):
            frame = ChatReceived(frame.uuid, f"{frame.text}>{self.name}", frame.timestamp_ms)
        await self.emit(frame)


def chat(text: str) -> ChatReceived:
    return ChatReceived("p1", text, 1)


def test_frames_pass_every_stage_in_order():
    out = feed(Tag("a"), Tag("b"), frames=[chat("1"), ParticipantLeft("p1", 2), chat("2")])
    assert kinds(out) == ["ChatReceived", "ParticipantLeft", "ChatReceived"]
    assert [f.text for f in out if isinstance(f, ChatReceived)] == ["1>a>b", "2>a>b"]


class Echo(Stage):
    """Emits each chat twice: once now, once later from a task of its own (like a transcriber)."""

    def __init__(self) -> None:
        self.pending: list[asyncio.Task[None]] = []

    async def process(self, frame: Frame) -> None:
        if isinstance(frame, ChatReceived):
            self.pending.append(asyncio.create_task(self._later(frame)))
        if isinstance(frame, EndOfStream):
            await asyncio.gather(*self.pending)
        await self.emit(frame)

    async def _later(self, frame: ChatReceived) -> None:
        await asyncio.sleep(0)
        await self.emit(ChatReceived(frame.uuid, frame.text + " again", frame.timestamp_ms))


class OneAtATime(Stage):
    """Records whether two calls were ever inside process at once (each yields to the loop)."""

    def __init__(self) -> None:
        self.inside = 0
        self.overlapped = False
        self.seen: list[str] = []

    async def process(self, frame: Frame) -> None:
        self.inside += 1
        self.overlapped |= self.inside > 1
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        if isinstance(frame, ChatReceived):
            self.seen.append(frame.text)
        self.inside -= 1
        await self.emit(frame)


def test_a_stage_sees_one_frame_at_a_time_even_when_its_upstream_emits_from_a_task():
    last = OneAtATime()
    feed(Echo(), last, frames=[chat(str(i)) for i in range(20)])
    assert not last.overlapped
    assert sorted(last.seen) == sorted(
        [str(i) for i in range(20)] + [f"{i} again" for i in range(20)]
    )


class Fails(Stage):
    def __init__(self, on: type) -> None:
        self.on = on

    async def process(self, frame: Frame) -> None:
        if isinstance(frame, self.on):
            raise RuntimeError("boom")
        await self.emit(frame)


def test_a_failing_stage_loses_that_frame_only(caplog):
    out = feed(
        Fails(ParticipantLeft),
        Tag("after"),
        frames=[chat("1"), ParticipantLeft("p1", 2), chat("2")],
    )
    assert [f.text for f in out] == ["1>after", "2>after"]
    assert "Fails failed on a ParticipantLeft frame" in caplog.text


def test_end_of_stream_reaches_the_end_when_a_stage_fails_on_it():
    closed = []

    class Closes(Stage):
        async def process(self, frame: Frame) -> None:
            if isinstance(frame, EndOfStream):
                closed.append(True)
            await self.emit(frame)

    feed(Fails(EndOfStream), Closes(), frames=[chat("1")])  # feed asserts EndOfStream came out
    assert closed == [True]


def test_frames_queued_before_start_are_handled_and_frames_after_close_dropped():
    async def scenario() -> list[Frame]:
        out: list[Frame] = []

        async def collect(frame: Frame) -> None:
            out.append(frame)

        pipeline = Pipeline([Tag("a")], out=collect)
        pipeline.put(chat("before"))
        await pipeline.close()
        pipeline.put(chat("after"))
        await pipeline.close()  # a second close only waits again
        return out

    out = asyncio.run(scenario())
    assert kinds(out) == ["ChatReceived", "EndOfStream"]
