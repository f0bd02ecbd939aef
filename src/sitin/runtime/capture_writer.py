"""The pipeline's last stage: writes what a bot captures (participants, their events, chat,
utterances, kept speech audio) to the database, in the order it happened, through the deletion
fence of ``sitin.db.capture``.

`process` only enqueues (never blocks the event loop); one task per bot drains the queue and runs
each write in a thread. Once the fence refuses a write (the bot's data was deleted), every later
write is dropped; kept audio goes through ``blob_fence.store_blob``, which removes what it
uploaded if the deletion came first. Participants are known to storage by the ids sitin gives
them, never by the uuid the meeting reported.
"""

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Any

from sitin.context import AppContext
from sitin.core.audio import SPEECH_SAMPLE_RATE
from sitin.core.triggers import Trigger
from sitin.db import capture
from sitin.db.capture import DataDeleted
from sitin.db.engine import Tx
from sitin.runtime.blob_fence import store_blob
from sitin.runtime.frames import (
    ChatReceived,
    EndOfStream,
    Frame,
    ParticipantJoined,
    ParticipantLeft,
    SpeechStart,
    SpeechStop,
    Utterance,
)
from sitin.runtime.pipeline.base import Stage
from sitin.transcription.wav import encode_wav
from sitin.webhooks import envelope
from sitin.webhooks.dispatch import fire

log = logging.getLogger(__name__)

Job = Callable[[], None]  # blocking: runs in a thread, opens its own transaction(s)


class CaptureWriter(Stage):
    def __init__(self, ctx: AppContext, bot_id: str, *, speech_events: bool, keep_audio: bool):
        self.ctx = ctx
        self.bot_id = bot_id
        self.speech_events = speech_events
        self.keep_audio = keep_audio
        self.fenced = False
        self._participants: dict[str, str] = {}  # room uuid -> participant id
        self._people: dict[str, ParticipantJoined] = {}
        self._queue: asyncio.Queue[Job | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def process(self, frame: Frame) -> None:
        if isinstance(frame, ParticipantJoined):
            self._participant_joined(frame)
        elif isinstance(frame, ParticipantLeft):
            self._in_transaction(
                lambda tx: self._participant_event(tx, frame.uuid, "leave", frame.timestamp_ms)
            )
        elif isinstance(frame, SpeechStart | SpeechStop):
            if self.speech_events:
                kind = "speech_start" if isinstance(frame, SpeechStart) else "speech_stop"
                self._in_transaction(
                    lambda tx: self._participant_event(tx, frame.uuid, kind, frame.timestamp_ms)
                )
        elif isinstance(frame, ChatReceived):
            self._in_transaction(lambda tx: self._chat(tx, frame))
        elif isinstance(frame, Utterance):
            self._enqueue(lambda: self._utterance(frame))
        elif isinstance(frame, EndOfStream):
            await self.close()
            await self.emit(frame)
        else:
            await self.emit(frame)

    async def close(self) -> None:
        """Finish every queued write, then stop."""
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
            self._task = None

    def _enqueue(self, job: Job) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name=f"capture-{self.bot_id}")
        self._queue.put_nowait(job)

    def _in_transaction(self, write: Callable[[Tx], None]) -> None:
        def job() -> None:
            with self.ctx.db.write() as tx:
                write(tx)

        self._enqueue(job)

    async def _drain(self) -> None:
        while (job := await self._queue.get()) is not None:
            if self.fenced:
                continue
            try:
                await asyncio.to_thread(job)
            except DataDeleted:
                self.fenced = True
                log.info("bot %s: data deleted during the meeting; capture stops", self.bot_id)
            except Exception:
                log.exception("bot %s: a capture write failed", self.bot_id)

    def _fire(self, tx: Tx, trigger: Trigger, data: dict[str, Any]) -> None:
        fire(tx, bot_id=self.bot_id, trigger=trigger, data=data)

    # --- the writes (in the writer's thread) ------------------------------------------------

    def _participant_joined(self, event: ParticipantJoined) -> None:
        self._people[event.uuid] = event

        def write(tx: Tx) -> None:
            participant_id = capture.upsert_participant(
                tx,
                bot_id=self.bot_id,
                uuid=event.uuid,
                name=event.name,
                is_host=event.is_host,
                user_uuid=event.user_uuid,
            )
            self._participants[event.uuid] = participant_id
            self._participant_event(tx, event.uuid, "join", event.timestamp_ms)

        self._in_transaction(write)

    def _participant_event(self, tx: Tx, uuid: str, kind: str, timestamp_ms: int) -> None:
        participant_id = self._participants.get(uuid)
        if participant_id is None:
            return
        event_id = capture.add_participant_event(
            tx,
            bot_id=self.bot_id,
            participant_id=participant_id,
            event_type=kind,
            timestamp_ms=timestamp_ms,
        )
        person = self._people[uuid]
        self._fire(
            tx,
            envelope.participant_event_trigger(kind),
            envelope.participant_event_data(
                id=event_id,
                participant_name=person.name,
                participant_uuid=uuid,
                participant_user_uuid=person.user_uuid,
                participant_is_host=person.is_host,
                event_type=kind,
                event_data={},
                timestamp_ms=timestamp_ms,
            ),
        )

    def _chat(self, tx: Tx, event: ChatReceived) -> None:
        participant_id = self._participants.get(event.uuid)
        if participant_id is None:
            return
        message_id = capture.add_chat_message(
            tx,
            bot_id=self.bot_id,
            participant_id=participant_id,
            text=event.text,
            timestamp_ms=event.timestamp_ms,
            to=event.to,
        )
        person = self._people[event.uuid]
        self._fire(
            tx,
            Trigger.CHAT_MESSAGES_UPDATE,
            envelope.chat_message_data(
                id=message_id,
                text=event.text,
                timestamp_ms=event.timestamp_ms,
                to=event.to,
                sender_name=person.name,
                sender_uuid=event.uuid,
                sender_user_uuid=person.user_uuid,
            ),
        )

    def _utterance(self, utterance: Utterance) -> None:
        segment = utterance.segment
        participant_id = self._participants.get(segment.speaker_uuid)
        if participant_id is None:
            return
        if not self.keep_audio:
            with self.ctx.db.write() as tx:
                self._write_utterance(tx, participant_id, utterance)
            return
        # The speaker's uuid came from the meeting: the key uses the id sitin gave them.
        key = capture.blob_key(
            self.bot_id, "audio", participant_id, f"{segment.start_ms}-{secrets.token_hex(4)}.wav"
        )

        def record(tx: Tx, size: int) -> None:
            self._write_utterance(tx, participant_id, utterance)
            capture.add_audio_segment(
                tx,
                bot_id=self.bot_id,
                participant_id=participant_id,
                blob_key=key,
                blob_size=size,
                sample_rate=SPEECH_SAMPLE_RATE,
                timestamp_ms=segment.start_ms,
                duration_ms=segment.duration_ms,
            )

        store_blob(
            self.ctx.db,
            self.ctx.blobs,
            bot_id=self.bot_id,
            key=key,
            content=encode_wav(segment.samples),
            record=record,
        )

    def _write_utterance(self, tx: Tx, participant_id: str, utterance: Utterance) -> None:
        segment, result, failure = utterance.segment, utterance.transcription, utterance.failure
        transcription = None
        if result is not None:
            transcription = {
                "transcript": result.transcript,
                "words": result.words,
                "language": result.language,
            }
        capture.add_utterance(
            tx,
            bot_id=self.bot_id,
            participant_id=participant_id,
            timestamp_ms=segment.start_ms,
            duration_ms=segment.duration_ms,
            transcription=transcription,
            failure_data={"reason": failure.reason} if failure else None,
        )
        if transcription and transcription["transcript"]:
            person = self._people[segment.speaker_uuid]
            self._fire(
                tx,
                Trigger.TRANSCRIPT_UPDATE,
                envelope.transcript_data(
                    speaker_name=person.name,
                    speaker_uuid=segment.speaker_uuid,
                    speaker_user_uuid=person.user_uuid,
                    speaker_is_host=person.is_host,
                    timestamp_ms=segment.start_ms,
                    duration_ms=segment.duration_ms,
                    transcript=transcription["transcript"],
                ),
            )
