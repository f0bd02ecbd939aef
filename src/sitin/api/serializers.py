"""Rows to Attendee's JSON shapes (key order as Attendee's serializers). Chat messages and
participant events share their builders with the webhooks, which carry the same shapes."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import RowMapping

from sitin.core.timefmt import to_wire
from sitin.db.bots import BotEvent
from sitin.webhooks import envelope


def bot(row: RowMapping, events: list[BotEvent]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "metadata": row["metadata"],
        "meeting_url": row["meeting_url"],
        "state": row["state"],
        "events": _events(events),
        "transcription_state": row["transcription_state"],
        "recording_state": row["recording_state"],
        "join_at": row["join_at"],
        "deduplication_key": row["deduplication_key"],
    }


def _events(events: list[BotEvent]) -> list[dict[str, Any]]:
    # Datetimes stay datetimes: JsonResponse writes them in the wire format (a page renders 150
    # events, and formatting them here was most of the page's rendering).
    rendered = []
    for event_type, sub_type, created_at in events:
        if sub_type:
            rendered.append({"type": event_type, "sub_type": sub_type, "created_at": created_at})
        else:
            rendered.append({"type": event_type, "created_at": created_at})
    return rendered


def utterance(row: RowMapping) -> dict[str, Any]:
    return {
        "speaker_name": row["speaker_name"],
        "speaker_uuid": row["speaker_uuid"],
        "speaker_user_uuid": row["speaker_user_uuid"],
        "speaker_is_host": row["speaker_is_host"],
        "timestamp_ms": row["timestamp_ms"],
        "duration_ms": row["duration_ms"],
        "transcription": row["transcription"],
    }


def participant(row: RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "uuid": row["uuid"],
        "user_uuid": row["user_uuid"],
        "is_host": row["is_host"],
    }


def participant_event(row: RowMapping) -> dict[str, Any]:
    return envelope.participant_event_data(
        id=row["id"],
        participant_name=row["participant_name"],
        participant_uuid=row["participant_uuid"],
        participant_user_uuid=row["participant_user_uuid"],
        participant_is_host=row["participant_is_host"],
        event_type=row["event_type"],
        event_data=row["event_data"],
        timestamp_ms=row["timestamp_ms"],
    )


def chat_message(row: RowMapping) -> dict[str, Any]:
    return envelope.chat_message_data(
        id=row["id"],
        text=row["text"],
        timestamp_ms=row["timestamp_ms"],
        to=row["to"],
        sender_name=row["sender_name"],
        sender_uuid=row["sender_uuid"],
        sender_user_uuid=row["sender_user_uuid"],
        additional_data=row["additional_data"],
    )


def webhook_subscription(row: RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"],
        "url": row["url"],
        "triggers": row["triggers"],
        "is_active": row["is_active"],
        "created_at": to_wire(row["created_at"]),
    }


def webhook_delivery(row: Mapping[str, Any]) -> dict[str, Any]:
    """An attempt row of ``db.webhook_deliveries.bot_page`` (payload opened)."""
    return {
        "idempotency_key": row["id"],
        "webhook_id": row["subscription_id"],
        "url": row["url"],
        "trigger": row["trigger"],
        "status": row["status"],
        "attempt_count": row["attempt_count"],
        "attempts": row["attempts"] or [],
        "next_attempt_at": to_wire(row["next_attempt_at"]) if row["status"] == "pending" else None,
        "succeeded_at": to_wire(row["succeeded_at"]),
        "created_at": to_wire(row["created_at"]),
        "payload": row["payload"],
    }
