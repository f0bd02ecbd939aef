"""One bot's life in a meeting: join, capture, obey commands, leave, post-process.

States follow the reference: joining → joined_not_recording → joined_recording (rooms grant
recording at once) → leaving / meeting end → post_processing → ended; a failure to join is
could_not_join_meeting, anything unexpected fatal_error. The runner keeps the lifecycle and the
commands; what the meeting says flows through the bot's pipeline of stages (``bot_pipeline``),
whose last stage writes it through the deletion fence.
"""

import asyncio
import contextlib
import logging
import shutil
import time
from collections import deque

from sitin.context import AppContext
from sitin.core.commands import BotCommand
from sitin.core.states import TERMINAL, BotState, EventSubType, EventType
from sitin.core.timefmt import as_utc, utcnow
from sitin.datadir import bot_work_dir
from sitin.db.capture import DataDeleted
from sitin.rooms.passes import BotPass
from sitin.runtime import botstate
from sitin.runtime.accuracy_pass import run_accuracy_pass
from sitin.runtime.adapters.base import (
    ChatNotSent,
    CouldNotJoin,
    MeetingAdapter,
    MeetingEnded,
    MeetingEvent,
)
from sitin.runtime.adapters.platforms import AdapterFactory, open_adapter
from sitin.runtime.autoleave import AutoLeave
from sitin.runtime.bot_pipeline import accuracy_pass_of, build_pipeline
from sitin.runtime.frames import AudioFrame, AudioOut, RecordingPaused, RecordingResumed
from sitin.runtime.pipeline.base import Pipeline
from sitin.runtime.pipeline.recorder import now_ms
from sitin.runtime.pipeline.stages import PlaybackStage
from sitin.runtime.speaker import BotSpeaker

log = logging.getLogger(__name__)

TICK_S = 0.25
COMMAND_POLL_S = 0.5  # how often a bot checks for commands when nobody wakes it
FINISH_TIMEOUT_S = 30  # a bot being stopped waits this long for its pipeline to finish
EARLY_AUDIO_FRAMES = 1_000  # audio kept from before capture starts (20 s of one participant)
COULD_NOT_JOIN_SUB_TYPES = {
    "unable_to_connect_to_meeting": EventSubType.UNABLE_TO_CONNECT_TO_MEETING,
    "meeting_not_found": EventSubType.MEETING_NOT_FOUND,
    "meeting_full": EventSubType.REQUEST_TO_JOIN_DENIED,
    "request_to_join_denied": EventSubType.REQUEST_TO_JOIN_DENIED,
}
# Why a meeting ended under the bot (MeetingEnded.reason), as the bot's log says it
ENDED_REASONS = {
    "connection_lost": "the connection to the meeting was lost",
    "room_destroyed": "the meeting's room was closed",
    "kicked": "the bot was removed from the meeting",
}


class BotRunner:
    def __init__(
        self, ctx: AppContext, bot_id: str, *, adapter_factory: AdapterFactory = open_adapter
    ):
        self.ctx = ctx
        self.bot_id = bot_id
        self.wake = asyncio.Event()
        self._adapter_factory = adapter_factory
        self._adapter: MeetingAdapter | None = None
        self._pipeline: Pipeline | None = None
        self._speaker: BotSpeaker | None = None
        self._early_audio: deque[AudioFrame] = deque(maxlen=EARLY_AUDIO_FRAMES)
        self._paused = False
        self._stop_reason: str | None = None  # "leave", "meeting_ended", "external"
        self._ended_reason: str | None = None  # MeetingEnded.reason, when the meeting ended
        self._autoleave: AutoLeave | None = None
        self._work_dir = bot_work_dir(ctx.settings.data_dir, bot_id)

    # --- lifecycle ------------------------------------------------------------------------

    async def run(self) -> None:
        bot = await asyncio.to_thread(self._load)
        if bot is None:
            return
        state = BotState(bot["state"])
        if state == BotState.STAGED:
            if not await self._wait_for_join_time(bot):
                return
        elif state != BotState.JOINING:
            log.info("bot %s is %s; nothing to run", self.bot_id, state.value)
            return
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await self._meeting(bot)
        except asyncio.CancelledError:
            await self._shutdown(EventSubType.PROCESS_TERMINATED)
            raise
        except Exception:
            log.exception("bot %s failed", self.bot_id)
            await self._shutdown(EventSubType.INTERNAL_ERROR)
        finally:
            heartbeat.cancel()
            shutil.rmtree(self._work_dir, ignore_errors=True)

    def _load(self):
        return botstate.load_bot(self.ctx, self.bot_id)

    async def _wait_for_join_time(self, bot) -> bool:
        delay = (as_utc(bot["join_at"]) - utcnow()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        state = await self._record(EventType.JOIN_REQUESTED, metadata={"source": "scheduler"})
        return state == BotState.JOINING

    async def _record(self, event: EventType, sub_type=None, metadata=None) -> BotState | None:
        return await asyncio.to_thread(
            botstate.record, self.ctx, self.bot_id, event, sub_type, metadata
        )

    async def _log(self, level: str, entry_type: str, message: str) -> None:
        await asyncio.to_thread(
            botstate.log, self.ctx, self.bot_id, level=level, entry_type=entry_type, message=message
        )

    async def _heartbeat(self) -> None:
        while True:
            state = await asyncio.to_thread(botstate.heartbeat, self.ctx, self.bot_id)
            if state is None or state in TERMINAL:
                self._stop("external")  # failed by the reaper, or deleted: stop capturing
            await asyncio.sleep(self.ctx.settings.heartbeat_interval)

    def _stop(self, reason: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
        self.wake.set()

    # --- the meeting ------------------------------------------------------------------------

    async def _meeting(self, bot) -> None:
        self._work_dir.mkdir(parents=True, exist_ok=True)
        adapter = self._adapter_factory(
            bot["platform"],
            bot["meeting_url"],
            bot["name"],
            self._sink,
            guard=self.ctx.outbound,
            room_pass=lambda room: self.ctx.room_passes.issue_bot_pass(
                BotPass(room=room, bot_id=self.bot_id, name=bot["name"])
            ),
        )
        self._adapter = adapter
        try:
            await adapter.join()
        except CouldNotJoin as exc:
            sub_type = COULD_NOT_JOIN_SUB_TYPES.get(
                exc.reason, EventSubType.UNABLE_TO_CONNECT_TO_MEETING
            )
            await self._log("error", "join", f"could not join the meeting: {exc}")
            await self._record(EventType.COULD_NOT_JOIN, sub_type)
            return
        if await self._record(EventType.JOINED_MEETING) is None:
            # asked to leave (or failed) while still joining: get out without capturing
            await adapter.leave()
            state = await asyncio.to_thread(botstate.current_state, self.ctx, self.bot_id)
            if state == BotState.LEAVING:
                await self._record(EventType.LEFT_MEETING)
                await self._record(EventType.POST_PROCESSING_COMPLETED)
            return
        self._speaker = BotSpeaker(
            self._say,
            accounts=lambda: asyncio.to_thread(
                botstate.provider_accounts, self.ctx, bot["project_id"]
            ),
            report=lambda message: self._log("error", "speech", message),
        )
        await adapter.set_recording(True)  # told before anything is captured
        await self._start_capture(bot)
        await self._record(EventType.RECORDING_PERMISSION_GRANTED)
        if not adapter.chat_available:
            await self._log("warning", "chat", "this meeting has no chat: chat messages are "
                            "neither captured nor sent")  # fmt: skip
        await self._send_chat_requests()
        await self._take_output_requests()
        await self._meeting_loop()
        await self._speaker.aclose()  # nothing more is played once the bot is leaving
        await self._leave_meeting()
        await self._post_process()

    async def _start_capture(self, bot) -> None:
        settings = bot["settings"]
        adapter = self._adapter
        playback = PlaybackStage(
            adapter.play_audio,
            adapter.clear_audio,
            report=lambda message: self._log("error", "speech", message),
            on_clear=self._speaker.interrupt if self._speaker is not None else lambda: None,
        )
        pipeline = await build_pipeline(
            self.ctx,
            self.bot_id,
            settings=settings,
            project_id=bot["project_id"],
            work_dir=self._work_dir,
            playback=playback,
        )
        self._autoleave = AutoLeave.from_settings(
            settings["automatic_leave_settings"], joined_at=time.monotonic()
        )
        for person in self._adapter.participants:  # who was there before capture began
            self._autoleave.observe(person, time.monotonic())
            pipeline.put(person)
        while self._early_audio:
            pipeline.put(self._early_audio.popleft())
        self._pipeline = pipeline
        pipeline.start()

    def _say(self, pcm) -> None:
        """The speaker's audio, on its way to the meeting through the pipeline's playback."""
        if self._pipeline is not None:
            self._pipeline.put(AudioOut(pcm))

    async def _meeting_loop(self) -> None:
        last_poll = time.monotonic()
        while self._stop_reason is None:
            woken = False
            with contextlib.suppress(TimeoutError):
                woken = await asyncio.wait_for(self.wake.wait(), TICK_S)
            self.wake.clear()
            now = time.monotonic()
            # The API wakes the bot when it runs in the same process; otherwise poll, unhurried.
            if woken or now - last_poll >= COMMAND_POLL_S:
                last_poll = now
                for command in await asyncio.to_thread(
                    botstate.take_commands, self.ctx, self.bot_id
                ):
                    await self._obey(command)
            reason = self._autoleave.reason_to_leave(now) if self._autoleave else None
            if (
                reason is not None
                and self._stop_reason is None
                and await self._record(EventType.LEAVE_REQUESTED, reason) == BotState.LEAVING
            ):
                self._stop("leave")

    async def _obey(self, command: str) -> None:
        if command == BotCommand.LEAVE:
            self._stop("leave")
        elif command == BotCommand.PAUSE_RECORDING and not self._paused:
            self._paused = True
            self._pipeline.put(RecordingPaused(now_ms()))
            await self._adapter.set_recording(False)
            await self._record(EventType.RECORDING_PAUSED)
        elif command == BotCommand.RESUME_RECORDING and self._paused:
            self._paused = False
            await self._adapter.set_recording(True)
            self._pipeline.put(RecordingResumed(now_ms()))
            await self._record(EventType.RECORDING_RESUMED)
        elif command == BotCommand.SYNC_CHAT_MESSAGE_REQUESTS:
            await self._send_chat_requests()
        elif command == BotCommand.SYNC_OUTPUT_REQUESTS:
            await self._take_output_requests()

    async def _take_output_requests(self) -> None:
        with contextlib.suppress(DataDeleted):
            taken = await asyncio.to_thread(botstate.take_output_requests, self.ctx, self.bot_id)
            for request in taken:
                if self._speaker is not None:
                    self._speaker.submit(request)

    async def _send_chat_requests(self) -> None:
        adapter = self._adapter
        for request in await asyncio.to_thread(
            botstate.pending_chat_requests, self.ctx, self.bot_id
        ):
            targets: list[str | None]
            if request["to"] == "specific_user":
                targets = [request["to_user_uuid"]]
            elif request["to"] == "everyone_but_host":
                targets = [p.uuid for p in adapter.participants if not p.is_host]
            else:
                targets = [None]
            failure = None
            try:
                for target in targets:
                    await adapter.send_chat(request["message"], target)
            except ChatNotSent as exc:
                failure = str(exc)
                await self._log("error", "chat", f"a chat message could not be sent: {exc}")
            except Exception as exc:  # the room connection failed mid-send
                failure = type(exc).__name__
                await self._log("error", "chat", f"a chat message could not be sent ({failure})")
            await asyncio.to_thread(
                botstate.mark_chat_request, self.ctx, self.bot_id, request["id"], failure
            )

    async def _leave_meeting(self) -> None:
        reason = self._stop_reason
        await self._adapter.leave()
        if reason == "leave":
            await self._record(EventType.LEFT_MEETING)
        elif reason == "meeting_ended":
            why = ENDED_REASONS[self._ended_reason or "connection_lost"]
            await self._log("warning", "meeting", f"the meeting ended: {why}")
            await self._record(EventType.MEETING_ENDED)

    async def _post_process(self) -> None:
        """Finish the recording and the transcript (and run the accuracy pass if the bot asked
        for it), then end (unless the bot already failed)."""
        await self._finish_capture()
        work = accuracy_pass_of(self._pipeline) if self._pipeline is not None else None
        if work is not None:
            state = await asyncio.to_thread(botstate.current_state, self.ctx, self.bot_id)
            if state == BotState.POST_PROCESSING:
                await run_accuracy_pass(self.ctx, self.bot_id, *work)
            else:
                await asyncio.to_thread(work[0].discard)
        await self._record(EventType.POST_PROCESSING_COMPLETED)

    async def _finish_capture(self) -> None:
        """Send the end of stream through the pipeline: every stage flushes, drains and closes."""
        if self._speaker is not None:
            await self._speaker.aclose()
        if self._pipeline is not None:
            await self._pipeline.close()

    async def _shutdown(self, sub_type: EventSubType) -> None:
        """Leave and keep what was captured, then mark the bot failed (worker stop or crash)."""
        with contextlib.suppress(Exception):
            if self._adapter is not None:
                await asyncio.wait_for(self._adapter.leave(), 5)
        try:
            await asyncio.wait_for(self._finish_capture(), FINISH_TIMEOUT_S)
        except Exception:
            log.exception("bot %s: capture did not finish cleanly", self.bot_id)
            if self._pipeline is not None:
                self._pipeline.abort()
        state = await asyncio.to_thread(botstate.current_state, self.ctx, self.bot_id)
        if state is not None and state not in TERMINAL:
            await self._record(EventType.FATAL_ERROR, sub_type)

    # --- events from the meeting ----------------------------------------------------------

    def _sink(self, event: MeetingEvent) -> None:
        """Called by the adapter for everything that happens in the meeting (on the loop)."""
        if isinstance(event, MeetingEnded) and event.reason in ENDED_REASONS:
            self._ended_reason = self._ended_reason or event.reason
            self._stop("meeting_ended")
        if self._autoleave is not None:
            self._autoleave.observe(event, time.monotonic())
        if isinstance(event, MeetingEnded):
            return
        if self._pipeline is not None:
            self._pipeline.put(event)
        elif isinstance(event, AudioFrame):
            self._early_audio.append(event)
