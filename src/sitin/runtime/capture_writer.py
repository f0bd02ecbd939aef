"""Writes what a bot captures (participants, their events, chat, utterances, audio segments) to the
database, in the order it happened, through the deletion fence of ``sitin.db.capture``.

The meeting side only enqueues (never blocks the event loop); one task per bot drains the queue and
runs each write in a thread. Once the fence refuses a write (the bot's data was deleted), every
later write is dropped and any blob this writer uploaded meanwhile is removed again.
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sitin.context import AppContext
from sitin.core.triggers import Trigger
from sitin.db import capture
from sitin.db.capture import DataDeleted
from sitin.db.engine import Tx
from sitin.runtime.adapters.base import ChatReceived, ParticipantJoined
from sitin.transcription.base import SAMPLE_RATE, SpeechSegment, Transcription, TranscriptionFailed
from sitin.transcription.wav import encode_wav
from sitin.webhooks import envelope
from sitin.webhooks.dispatch import fire

log = logging.getLogger(__name__)

Write = Callable[[Tx], None]


class CaptureWriter:
    def __init__(self, ctx: AppContext, bot_id: str, *, speech_events: bool, keep_audio: bool):
        self.ctx = ctx
        self.bot_id = bot_id
        self.speech_events = speech_events
        self.keep_audio = keep_audio
        self.fenced = False
        self.failed_utterances = 0
        self._participants: dict[str, str] = {}  # room uuid -> participant id
        self._people: dict[str, ParticipantJoined] = {}
        self._queue: asyncio.Queue[Write | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._drain(), name=f"capture-{self.bot_id}")

    async def close(self) -> None:
        """Finish every queued write, then stop."""
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task

    async def _drain(self) -> None:
        while (write := await self._queue.get()) is not None:
            if self.fenced:
                continue
            try:
                await asyncio.to_thread(self._run, write)
            except DataDeleted:
                self.fenced = True
                log.info("bot %s: data deleted during the meeting; capture stops", self.bot_id)
            except Exception:
                log.exception("bot %s: a capture write failed", self.bot_id)

    def _run(self, write: Write) -> None:
        with self.ctx.db.write() as tx:
            write(tx)

    def _fire(self, tx: Tx, trigger: str, data: dict[str, Any]) -> None:
        fire(tx, bot_id=self.bot_id, trigger=trigger, data=data)

    # --- what the meeting reports ---------------------------------------------------------

    def participant_joined(self, event: ParticipantJoined) -> None:
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

        self._queue.put_nowait(write)

    def participant_left(self, uuid: str, timestamp_ms: int) -> None:
        self._queue.put_nowait(lambda tx: self._participant_event(tx, uuid, "leave", timestamp_ms))

    def speech(self, uuid: str, started: bool, timestamp_ms: int) -> None:
        if self.speech_events:
            kind = "speech_start" if started else "speech_stop"
            self._queue.put_nowait(lambda tx: self._participant_event(tx, uuid, kind, timestamp_ms))

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

    def chat(self, event: ChatReceived) -> None:
        def write(tx: Tx) -> None:
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

        self._queue.put_nowait(write)

    def utterance(
        self,
        segment: SpeechSegment,
        result: Transcription | None,
        failure: TranscriptionFailed | None,
    ) -> None:
        if failure is not None:
            self.failed_utterances += 1
        audio_key = None
        if self.keep_audio:
            audio_key = (
                f"{capture.blob_prefix(self.bot_id)}audio/{segment.speaker_uuid}/"
                f"{segment.start_ms}.wav"
            )

        def write(tx: Tx) -> None:
            participant_id = self._participants.get(segment.speaker_uuid)
            if participant_id is None:
                return
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
            if audio_key is not None:
                self._keep_audio(tx, participant_id, audio_key, segment)
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

        self._queue.put_nowait(write)

    def _keep_audio(self, tx: Tx, participant_id: str, key: str, segment: SpeechSegment) -> None:
        """Store the segment's audio (16 kHz WAV) and its row; a refused row removes the blob."""
        capture.ensure_capturable(tx.conn, self.bot_id)  # refuse before uploading anything
        size = self.ctx.blobs.put_bytes(key, encode_wav(segment.samples))
        try:
            capture.add_audio_segment(
                tx,
                bot_id=self.bot_id,
                participant_id=participant_id,
                blob_key=key,
                blob_size=size,
                sample_rate=SAMPLE_RATE,
                timestamp_ms=segment.start_ms,
                duration_ms=segment.duration_ms,
            )
        except DataDeleted:
            self.ctx.blobs.delete_prefix(capture.blob_prefix(self.bot_id))
            raise
