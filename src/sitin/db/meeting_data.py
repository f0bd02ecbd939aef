"""Reads of captured meeting data for the API: transcript, participants, events, chat, recording."""

from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.engine import RowMapping

from sitin.db.pagination import Page, Position, keyset_page
from sitin.db.tables import chat_messages, participant_events, participants, recordings, utterances


def transcript(
    conn: Connection, *, bot_id: str, updated_after: datetime | None = None
) -> list[RowMapping]:
    """Transcribed utterances of the bot's recording, in time order, with their speaker."""
    query = (
        select(
            participants.c.name.label("speaker_name"),
            participants.c.uuid.label("speaker_uuid"),
            participants.c.user_uuid.label("speaker_user_uuid"),
            participants.c.is_host.label("speaker_is_host"),
            utterances.c.timestamp_ms,
            utterances.c.duration_ms,
            utterances.c.transcription,
        )
        .join(participants, participants.c.id == utterances.c.participant_id)
        .where(utterances.c.bot_id == bot_id, utterances.c.transcription.is_not(None))
        .order_by(utterances.c.timestamp_ms, utterances.c.id)
    )
    if updated_after is not None:
        query = query.where(utterances.c.updated_at > updated_after)
    return [
        row
        for row in conn.execute(query).mappings()
        if (row["transcription"] or {}).get("transcript")
    ]


def participants_page(
    conn: Connection,
    *,
    bot_id: str,
    is_host: bool | None,
    participant_id: str | None,
    position: Position | None,
    limit: int,
) -> Page:
    query = select(participants).where(participants.c.bot_id == bot_id)
    if is_host is not None:
        query = query.where(participants.c.is_host.is_(is_host))
    if participant_id is not None:
        query = query.where(participants.c.id == participant_id)
    return keyset_page(
        conn, query, participants.c.created_at, participants.c.id, position=position, limit=limit
    )


def participant_events_page(
    conn: Connection,
    *,
    bot_id: str,
    after: datetime | None,
    before: datetime | None,
    position: Position | None,
    limit: int,
) -> Page:
    query = (
        select(
            participant_events.c.id,
            participant_events.c.created_at,
            participants.c.name.label("participant_name"),
            participants.c.uuid.label("participant_uuid"),
            participants.c.user_uuid.label("participant_user_uuid"),
            participants.c.is_host.label("participant_is_host"),
            participant_events.c.event_type,
            participant_events.c.event_data,
            participant_events.c.timestamp_ms,
        )
        .join(participants, participants.c.id == participant_events.c.participant_id)
        .where(participant_events.c.bot_id == bot_id)
    )
    if after is not None:
        query = query.where(participant_events.c.created_at > after)
    if before is not None:
        query = query.where(participant_events.c.created_at < before)
    return keyset_page(
        conn,
        query,
        participant_events.c.created_at,
        participant_events.c.id,
        position=position,
        limit=limit,
    )


def chat_messages_page(
    conn: Connection,
    *,
    bot_id: str,
    created_after: datetime | None,
    position: Position | None,
    limit: int,
) -> Page:
    query = (
        select(
            chat_messages.c.id,
            chat_messages.c.created_at,
            chat_messages.c.text,
            chat_messages.c.timestamp,
            chat_messages.c.timestamp_ms,
            chat_messages.c.to,
            chat_messages.c.additional_data,
            participants.c.name.label("sender_name"),
            participants.c.uuid.label("sender_uuid"),
            participants.c.user_uuid.label("sender_user_uuid"),
        )
        .join(participants, participants.c.id == chat_messages.c.participant_id)
        .where(chat_messages.c.bot_id == bot_id)
    )
    if created_after is not None:
        query = query.where(chat_messages.c.created_at > created_after)
    return keyset_page(
        conn, query, chat_messages.c.created_at, chat_messages.c.id, position=position, limit=limit
    )


def recording(conn: Connection, *, bot_id: str) -> RowMapping | None:
    return conn.execute(select(recordings).where(recordings.c.bot_id == bot_id)).mappings().first()


def participant_by_uuid(conn: Connection, *, bot_id: str, uuid: str) -> RowMapping | None:
    return (
        conn.execute(
            select(participants).where(participants.c.bot_id == bot_id, participants.c.uuid == uuid)
        )
        .mappings()
        .first()
    )
