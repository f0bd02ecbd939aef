"""What a webhook carries: the envelope, its canonical JSON, and the ``data`` of each trigger.

Pure functions on plain values (Attendee's shapes, reference §4 and §8). Datetimes inside ``data``
use Python's ``isoformat()`` (``…+00:00``), as Attendee's webhooks do; the REST API uses ``Z``.
"""

import json
from datetime import datetime
from typing import Any

from sitin.core.timefmt import as_utc
from sitin.core.triggers import Trigger


def webhook_time(value: datetime) -> str:
    """``2024-01-18T12:34:56.123456+00:00`` (naive values are taken as UTC)."""
    return as_utc(value).isoformat()


def build_envelope(
    *,
    idempotency_key: str,
    bot_id: str | None,
    bot_metadata: dict[str, Any] | None,
    trigger: str,
    data: dict[str, Any],
) -> dict[str, Any]:
    return {
        "idempotency_key": idempotency_key,
        "bot_id": bot_id,
        "bot_metadata": bot_metadata,
        "trigger": trigger,
        "data": data,
    }


def canonical_json(envelope: dict[str, Any]) -> bytes:
    """The bytes that are signed (and sent): sorted keys, compact separators, UTF-8."""
    return json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def state_change_data(
    *,
    event_type: str,
    event_sub_type: str | None,
    event_metadata: dict[str, Any] | None,
    old_state: str,
    new_state: str,
    created_at: datetime,
) -> dict[str, Any]:
    return {
        "event_type": str(event_type),
        "event_sub_type": str(event_sub_type) if event_sub_type is not None else None,
        "event_metadata": dict(event_metadata or {}),
        "old_state": str(old_state),
        "new_state": str(new_state),
        "created_at": webhook_time(created_at),
    }


def transcript_data(
    *,
    speaker_name: str,
    speaker_uuid: str,
    speaker_user_uuid: str | None,
    speaker_is_host: bool,
    timestamp_ms: int,
    duration_ms: int,
    transcript: str | None,
) -> dict[str, Any]:
    """An utterance with ``transcription`` cut to ``{"transcript"}`` (null until transcribed)."""
    return {
        "speaker_name": speaker_name,
        "speaker_uuid": speaker_uuid,
        "speaker_user_uuid": speaker_user_uuid,
        "speaker_is_host": speaker_is_host,
        "timestamp_ms": timestamp_ms,
        "duration_ms": duration_ms,
        "transcription": {"transcript": transcript} if transcript is not None else None,
    }


def chat_message_data(
    *,
    id: str,
    text: str,
    timestamp_ms: int,
    to: str,
    sender_name: str,
    sender_uuid: str,
    sender_user_uuid: str | None,
    additional_data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": id,
        "text": text,
        "timestamp": timestamp_ms // 1000,
        "timestamp_ms": (timestamp_ms // 1000) * 1000,
        "to": to,
        "sender_name": sender_name,
        "sender_uuid": sender_uuid,
        "sender_user_uuid": sender_user_uuid,
        "additional_data": dict(additional_data or {}),
    }


def participant_event_data(
    *,
    id: str,
    participant_name: str,
    participant_uuid: str,
    participant_user_uuid: str | None,
    participant_is_host: bool,
    event_type: str,
    event_data: dict[str, Any] | None,
    timestamp_ms: int,
) -> dict[str, Any]:
    return {
        "id": id,
        "participant_name": participant_name,
        "participant_uuid": participant_uuid,
        "participant_user_uuid": participant_user_uuid,
        "participant_is_host": participant_is_host,
        "event_type": event_type,
        "event_data": dict(event_data or {}),
        "timestamp_ms": timestamp_ms,
    }


def participant_event_trigger(event_type: str) -> Trigger:
    """``join``/``leave`` → join_leave; ``speech_start``/``speech_stop`` → speech_start_stop."""
    if event_type in ("join", "leave"):
        return Trigger.PARTICIPANT_JOIN_LEAVE
    if event_type in ("speech_start", "speech_stop"):
        return Trigger.PARTICIPANT_SPEECH
    raise ValueError(
        f"participant event type {event_type!r} has no webhook trigger; "
        "expected join, leave, speech_start or speech_stop"
    )


def bot_log_data(
    *, id: str, level: str, entry_type: str, message: str, created_at: datetime
) -> dict[str, Any]:
    return {
        "id": id,
        "level": level,
        "entry_type": entry_type,
        "message": message,
        "created_at": webhook_time(created_at),
    }
