"""One bot's life in a meeting: join, record, capture, obey commands, leave, post-process.

States follow the reference: joining → joined_not_recording → joined_recording (rooms grant
recording at once) → leaving / meeting end → post_processing → ended; a failure to join is
could_not_join_meeting, anything unexpected fatal_error. Captured data goes through
``CaptureWriter`` (the deletion fence); the recording is uploaded under ``bots/<id>/`` at the end.
"""

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from typing import Any

from sitin.context import AppContext
from sitin.core.commands import BotCommand
from sitin.core.states import TERMINAL, BotState, EventSubType, EventType
from sitin.core.timefmt import as_utc, utcnow
from sitin.db import bots, capture, credentials
from sitin.db.capture import DataDeleted
from sitin.runtime import botstate
from sitin.runtime.adapters.base import (
    AudioFrame,
    ChatReceived,
    CouldNotJoin,
    MeetingAdapter,
    MeetingEnded,
    MeetingEvent,
    ParticipantJoined,
    ParticipantLeft,
    SpeechStart,
    SpeechStop,
)
from sitin.runtime.autoleave import AutoLeave
from sitin.runtime.capture_writer import CaptureWriter
from sitin.runtime.pipeline.recorder import Recorder, open_recorder
from sitin.runtime.pipeline.speech import SpeakerSegmenters
from sitin.runtime.pipeline.transcriber import SegmentTranscriber
from sitin.transcription.base import (
    SpeechSegment,
    Transcription,
    TranscriptionFailed,
    TranscriptionProvider,
)
from sitin.transcription.factory import build_provider

log = logging.getLogger(__name__)

TICK_S = 0.25
SPEECH_BATCH_S = 0.2
COMMAND_POLL_S = 0.5  # how often a bot checks for commands when nobody wakes it
COULD_NOT_JOIN_SUB_TYPES = {
    "unable_to_connect_to_meeting": EventSubType.UNABLE_TO_CONNECT_TO_MEETING,
    "meeting_not_found": EventSubType.MEETING_NOT_FOUND,
    "meeting_full": EventSubType.REQUEST_TO_JOIN_DENIED,
}

AdapterFactory = Callable[[str, str, str, Callable[[MeetingEvent], None]], MeetingAdapter]


def room_adapter(
    platform: str, meeting_url: str, bot_name: str, sink: Callable[[MeetingEvent], None]
) -> MeetingAdapter:
    """The adapter for a meeting platform (only sitin's own rooms so far)."""
    if platform != "room":
        raise CouldNotJoin("unable_to_connect_to_meeting", f"no adapter for {platform}")
    from sitin.runtime.adapters.room import RoomAdapter

    return RoomAdapter(meeting_url, bot_name, sink)


class UnavailableProvider(TranscriptionProvider):
    """Stands in when the bot's provider cannot be built (e.g. no API key): each segment fails
    with the reason, so the failure is visible per utterance and in the final state."""

    def __init__(self, reason: str):
        self.reason = reason

    async def transcribe(self, segment: SpeechSegment) -> Transcription:
        raise TranscriptionFailed(self.reason, retryable=False)


class BotRunner:
    def __init__(
        self, ctx: AppContext, bot_id: str, *, adapter_factory: AdapterFactory = room_adapter
    ):
        self.ctx = ctx
        self.bot_id = bot_id
        self.wake = asyncio.Event()
        self._adapter_factory = adapter_factory
        self._adapter: MeetingAdapter | None = None
        self._recorder: Recorder | None = None
        self._writer: CaptureWriter | None = None
        self._segmenters = SpeakerSegmenters()
        self._transcriber: SegmentTranscriber | None = None
        self._audio_batch: list[AudioFrame] = []
        self._transcribes = True  # False for record-only bots: their audio skips speech detection
        self._humans: set[str] = set()
        self._paused = False
        self._stop_reason: str | None = None  # "leave", "meeting_ended", "external"
        self._autoleave: AutoLeave | None = None
        self._settings: dict[str, Any] = {}
        self._work_dir = ctx.settings.data_dir / "work" / bot_id

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
        self._settings = bot["settings"]
        self._project_id = bot["project_id"]
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
        with self.ctx.db.read() as conn:
            return bots.get_any(conn, bot_id=self.bot_id)

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
            bot["platform"], bot["meeting_url"], bot["name"], self._sink
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
        await self._start_capture()
        await self._record(EventType.RECORDING_PERMISSION_GRANTED)
        await self._send_chat_requests()
        await self._meeting_loop()
        await self._leave_meeting()
        await self._post_process()

    async def _start_capture(self) -> None:
        recording = self._settings["recording_settings"]
        self._writer = CaptureWriter(
            self.ctx,
            self.bot_id,
            speech_events=recording["record_participant_speech_start_stop_events"],
            keep_audio=recording["record_async_transcription_audio_chunks"],
        )
        self._writer.start()
        for person in getattr(self._adapter, "participants", []):
            self._on_joined(person)
        self._recorder = open_recorder(
            self._work_dir / f"recording.{recording['format']}", recording["format"]
        )
        self._autoleave = AutoLeave.from_settings(
            self._settings["automatic_leave_settings"], joined_at=time.monotonic()
        )
        self._autoleave.humans_present(len(self._humans), time.monotonic())
        provider: TranscriptionProvider | None = None
        transcription = self._settings.get("transcription_settings") or {}
        if "none" not in transcription:
            try:
                provider = build_provider(transcription, await self._credentials())
            except TranscriptionFailed as exc:
                # every utterance is kept, marked failed with the reason, and counted at the end
                provider = UnavailableProvider(exc.reason)
                message = f"transcription unavailable: {exc.reason}"
                await self._log("error", "transcription", message)
        self._transcribes = provider is not None
        if not self._transcribes:
            self._audio_batch.clear()  # frames from before capture started: nothing to do
        if provider is not None:
            self._transcriber = SegmentTranscriber(
                provider, self._on_transcribed, work_dir=self._work_dir / "backlog"
            )
            self._transcriber.start()

    async def _credentials(self) -> dict[str, credentials.ProviderAccount]:
        def load() -> dict[str, credentials.ProviderAccount]:
            with self.ctx.db.read() as conn:
                return credentials.accounts_for(
                    conn,
                    server_key=self.ctx.settings.resolved_secret_key,
                    project_id=self._project_id,
                )

        return await asyncio.to_thread(load)

    async def _meeting_loop(self) -> None:
        last_speech_flush = last_poll = time.monotonic()
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
            if now - last_speech_flush >= SPEECH_BATCH_S:
                await self._segment_audio()
                last_speech_flush = now
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
            if self._recorder is not None:
                self._recorder.pause()
            await self._record(EventType.RECORDING_PAUSED)
        elif command == BotCommand.RESUME_RECORDING and self._paused:
            self._paused = False
            if self._recorder is not None:
                self._recorder.resume()
            await self._record(EventType.RECORDING_RESUMED)
        elif command == BotCommand.SYNC_CHAT_MESSAGE_REQUESTS:
            await self._send_chat_requests()

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
            except Exception as exc:  # the room connection failed mid-send
                failure = type(exc).__name__
                await self._log("error", "chat", f"a chat message could not be sent ({failure})")
            await asyncio.to_thread(self._mark_request, request["id"], failure)

    def _mark_request(self, request_id: int, failure: str | None) -> None:
        with contextlib.suppress(DataDeleted), self.ctx.db.write() as tx:
            capture.mark_chat_message_request(
                tx,
                bot_id=self.bot_id,
                request_id=request_id,
                sent=failure is None,
                failure=failure,
            )

    async def _leave_meeting(self) -> None:
        reason = self._stop_reason
        await self._adapter.leave()
        if reason == "leave":
            await self._record(EventType.LEFT_MEETING)
        elif reason == "meeting_ended":
            await self._record(EventType.MEETING_ENDED)

    async def _post_process(self) -> None:
        """Finish the recording and the transcript, then end (unless the bot already failed)."""
        await self._finish_capture()
        await self._record(EventType.POST_PROCESSING_COMPLETED)

    async def _finish_capture(self) -> None:
        await self._segment_audio()
        for segment in await asyncio.to_thread(self._segmenters.flush_all):
            self._submit(segment)
        if self._recorder is not None:
            recorder, self._recorder = self._recorder, None
            await recorder.aclose()
            await asyncio.to_thread(self._upload_recording, recorder)
        if self._transcriber is not None:
            transcriber, self._transcriber = self._transcriber, None
            await transcriber.drain()
            await transcriber.provider.aclose()
        if self._writer is not None:
            await self._writer.close()

    def _upload_recording(self, recorder: Recorder) -> None:
        """Upload through the fence: refused (and removed) once the bot's data was deleted."""
        key = f"{capture.blob_prefix(self.bot_id)}recording.{recorder.format}"
        try:
            with self.ctx.db.read() as conn:
                capture.ensure_capturable(conn, self.bot_id)
            size = self.ctx.blobs.put_file(key, recorder.path)
            with self.ctx.db.write() as tx:
                capture.set_recording_file(
                    tx,
                    bot_id=self.bot_id,
                    blob_key=key,
                    blob_size=size,
                    first_buffer_timestamp_ms=int(recorder.start_ms),
                )
        except DataDeleted:
            self.ctx.blobs.delete_prefix(capture.blob_prefix(self.bot_id))

    async def _shutdown(self, sub_type: EventSubType) -> None:
        """Leave and keep what was captured, then mark the bot failed (worker stop or crash)."""
        with contextlib.suppress(Exception):
            if self._adapter is not None:
                await asyncio.wait_for(self._adapter.leave(), 5)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._finish_capture(), 30)
        state = await asyncio.to_thread(botstate.current_state, self.ctx, self.bot_id)
        if state is not None and state not in TERMINAL:
            await self._record(EventType.FATAL_ERROR, sub_type)

    # --- events from the meeting ----------------------------------------------------------

    def _sink(self, event: MeetingEvent) -> None:
        if isinstance(event, AudioFrame):
            if not self._paused:
                if self._recorder is not None:
                    self._recorder.push(event)
                if self._transcribes:
                    self._audio_batch.append(event)
        elif isinstance(event, ParticipantJoined):
            self._on_joined(event)
        elif isinstance(event, ParticipantLeft):
            self._humans.discard(event.uuid)
            if self._writer is not None:
                self._writer.participant_left(event.uuid, event.timestamp_ms)
            if self._autoleave is not None:
                self._autoleave.humans_present(len(self._humans), time.monotonic())
        elif isinstance(event, ChatReceived):
            keep = (
                not self._paused
                or self._settings["recording_settings"]["record_chat_messages_when_paused"]
            )
            if self._writer is not None and keep:
                self._writer.chat(event)
        elif isinstance(event, SpeechStart | SpeechStop):
            if self._autoleave is not None:
                self._autoleave.saw_speech(time.monotonic())
            if self._writer is not None and not self._paused:
                self._writer.speech(event.uuid, isinstance(event, SpeechStart), event.timestamp_ms)
        elif isinstance(event, MeetingEnded):
            if event.reason == "connection_lost":
                self._stop("meeting_ended")
            elif self._autoleave is not None:
                self._autoleave.humans_present(0, time.monotonic())

    def _on_joined(self, event: ParticipantJoined) -> None:
        if self._writer is None:
            return  # participants already in the room are written once capture starts
        if not event.is_bot:
            self._humans.add(event.uuid)
        self._writer.participant_joined(event)
        if self._autoleave is not None:
            self._autoleave.humans_present(len(self._humans), time.monotonic())

    async def _segment_audio(self) -> None:
        batch, self._audio_batch = self._audio_batch, []
        if not batch:
            return
        segments = await asyncio.to_thread(self._feed_segmenters, batch)
        for segment in segments:
            self._submit(segment)

    def _feed_segmenters(self, frames: list[AudioFrame]):
        segments = []
        for frame in frames:
            segments += self._segmenters.feed(frame.uuid, frame.pcm, frame.timestamp_ms)
        return segments

    def _submit(self, segment) -> None:
        if self._transcriber is not None:
            self._transcriber.submit(segment)

    async def _on_transcribed(self, segment, result, failure) -> None:
        if self._writer is not None:
            self._writer.utterance(segment, result, failure)
