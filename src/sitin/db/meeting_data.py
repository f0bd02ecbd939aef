"""Reads of captured meeting data: transcript, participants, events, chat, recording for the API;
the chat messages waiting to be sent for the running bot.

Sealed columns are opened here with the bot's data key (``None`` when it has none: every sealed
value then reads as empty), so callers get plain rows in the shapes they always had.
"""

from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Row, Text, bindparam, cast, select
from sqlalchemy.engine import RowMapping

from sitin.core import json_text
from sitin.db import sealing
from sitin.db.pagination import Page, Position, keyset_page
from sitin.db.sealing import KeySource, Opener
from sitin.db.tables import (
    api_keys,
    bot_chat_message_requests,
    bots,
    chat_messages,
    participant_events,
    participants,
    recordings,
    utterances,
)
from sitin.encryption import DataKey


def _open_person(opener: Opener, row: dict[str, Any], prefix: str) -> None:
    row[f"{prefix}_name"] = opener.text(row[f"{prefix}_name"], sealing.PARTICIPANT_NAME)
    row[f"{prefix}_uuid"] = opener.text(row[f"{prefix}_uuid"], sealing.PARTICIPANT_UUID)
    row[f"{prefix}_user_uuid"] = opener.text(
        row[f"{prefix}_user_uuid"], sealing.PARTICIPANT_USER_UUID
    )


_SPEAKER_COLUMNS = (
    participants.c.id,
    participants.c.name,
    participants.c.uuid,
    participants.c.user_uuid,
    participants.c.is_host,
)
# Built once: constructing a statement costs more than SQLite takes to run it. The bot and its
# speakers in one statement: on PostgreSQL a round trip costs more than the few rows it repeats.
_BOT_AND_SPEAKERS_FOR_KEY = (
    select(
        bots.c.id.label("bot_id"),
        bots.c.state,
        recordings.c.id.label("recording_id"),
        *_SPEAKER_COLUMNS,
    )
    .select_from(
        api_keys.join(bots, bots.c.project_id == api_keys.c.project_id)
        .outerjoin(recordings, recordings.c.bot_id == bots.c.id)
        .outerjoin(participants, participants.c.bot_id == bots.c.id)
    )
    .where(
        api_keys.c.key_hash == bindparam("key_hash"),
        api_keys.c.disabled_at.is_(None),
        bots.c.id == bindparam("bot_id"),
    )
)
_SPEAKERS = select(*_SPEAKER_COLUMNS).where(participants.c.bot_id == bindparam("bot_id"))
_UTTERANCES = (
    select(
        utterances.c.participant_id,
        utterances.c.timestamp_ms,
        utterances.c.duration_ms,
        # As the column's text: a sealed value is a JSON string, opened without parsing it.
        cast(utterances.c.transcription, Text),
    )
    .where(utterances.c.bot_id == bindparam("bot_id"), utterances.c.transcription.is_not(None))
    .order_by(utterances.c.timestamp_ms, utterances.c.id)
)
_UTTERANCES_UPDATED_AFTER = _UTTERANCES.where(utterances.c.updated_at > bindparam("after"))
_RECORDING = select(recordings).where(recordings.c.bot_id == bindparam("bot_id"))


def bot_and_speakers_for_key(
    conn: Connection, *, key_hash: str, bot_id: str
) -> tuple[Row | None, dict[str, Row]]:
    """The bot (``bot_id``, ``state``, ``recording_id``: None when it has no recording) if the
    key is active and the bot is in its project, and its participants (still sealed) by id;
    (None, {}): a bad key, or no such bot there."""
    rows = conn.execute(_BOT_AND_SPEAKERS_FOR_KEY, {"key_hash": key_hash, "bot_id": bot_id}).all()
    if not rows:
        return None, {}
    return rows[0], {row.id: row for row in rows if row.id is not None}


def transcript(
    conn: Connection,
    *,
    bot_id: str,
    key: DataKey | KeySource | None,
    updated_after: datetime | None = None,
    sealed_speakers: dict[str, Row] | None = None,
) -> list[dict[str, Any]]:
    """Transcribed utterances of the bot's recording, in time order, with their speaker; each
    transcription as the response carries it (see ``response_transcription``: usually the JSON
    text it was sealed as, for orjson to embed).

    The speakers (read here unless given, as ``bot_and_speakers_for_key`` returns them) are read
    apart from the utterances and each is opened once, when first met: joined, every utterance
    would carry (and SQLite look up) its speaker's three sealed values again."""
    if updated_after is None:
        said = conn.execute(_UTTERANCES, {"bot_id": bot_id}).all()
    else:
        said = conn.execute(_UTTERANCES_UPDATED_AFTER, {"bot_id": bot_id, "after": updated_after})
        said = said.all()
    if not said:
        return []
    if sealed_speakers is None:
        sealed_speakers = {row.id: row for row in conn.execute(_SPEAKERS, {"bot_id": bot_id})}
    opener = Opener(bot_id, key)
    speakers: dict[str, tuple[Any, ...]] = {}
    spoken = []
    for participant_id, timestamp_ms, duration_ms, text in said:
        speaker = speakers.get(participant_id)
        if speaker is None:
            found = sealed_speakers.get(participant_id)
            if found is None:
                continue  # no speaker: not part of the transcript
            speaker = speakers[participant_id] = (
                opener.text(found.name, sealing.PARTICIPANT_NAME),
                opener.text(found.uuid, sealing.PARTICIPANT_UUID),
                opener.text(found.user_uuid, sealing.PARTICIPANT_USER_UUID),
                found.is_host,
            )
        spoken.append((speaker, timestamp_ms, duration_ms, text))
    opened = response_transcriptions(opener, [text for *_, text in spoken])
    return [
        {
            "speaker_name": speaker[0],
            "speaker_uuid": speaker[1],
            "speaker_user_uuid": speaker[2],
            "speaker_is_host": speaker[3],
            "timestamp_ms": timestamp_ms,
            "duration_ms": duration_ms,
            "transcription": transcription,
        }
        for (speaker, timestamp_ms, duration_ms, _), transcription in zip(
            spoken, opened, strict=True
        )
        if transcription is not None  # not transcribed (or unreadable): not in the transcript
    ]


# The shape every provider's transcription has, as json.dumps wrote it when it was sealed: its
# text first. NaN and Infinity, which json.dumps writes, are not JSON: such a value is parsed.
_WITH_TEXT = b'{"transcript":"'
_WITHOUT_TEXT = b'{"transcript":""'


def response_transcriptions(opener: Opener, texts: list[str]) -> list[Any]:
    """Utterances' transcriptions (their column's text) as the response carries them, ``None``
    for one without text or that does not open. The usual shape goes out as the JSON text it was
    sealed as: parsing it only for the response to serialise it again cost more than opening."""
    carried: list[Any] = []
    for plain in opener.json_column_texts(texts, sealing.UTTERANCE_TRANSCRIPTION):
        if plain is None:
            carried.append(None)
        elif (
            plain.startswith(_WITH_TEXT)
            and not plain.startswith(_WITHOUT_TEXT)
            and b"NaN" not in plain
            and b"Infinity" not in plain
        ):
            carried.append(orjson.Fragment(plain))
        else:  # rare: parsed
            transcription = json_text.loads(plain)
            carried.append(transcription if (transcription or {}).get("transcript") else None)
    return carried


def participants_page(
    conn: Connection,
    *,
    bot_id: str,
    key: DataKey | KeySource | None,
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
    page = keyset_page(
        conn, query, participants.c.created_at, participants.c.id, position=position, limit=limit
    )
    opener = Opener(bot_id, key)
    return replace(page, rows=[_open_participant(opener, row) for row in page.rows])


def _open_participant(opener: Opener, raw: RowMapping) -> dict[str, Any]:
    row = dict(raw)
    row["name"] = opener.text(row["name"], sealing.PARTICIPANT_NAME)
    row["uuid"] = opener.text(row["uuid"], sealing.PARTICIPANT_UUID)
    row["user_uuid"] = opener.text(row["user_uuid"], sealing.PARTICIPANT_USER_UUID)
    return row


def participant_events_page(
    conn: Connection,
    *,
    bot_id: str,
    key: DataKey | KeySource | None,
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
    page = keyset_page(
        conn,
        query,
        participant_events.c.created_at,
        participant_events.c.id,
        position=position,
        limit=limit,
    )
    opener = Opener(bot_id, key)
    rows = []
    for raw in page.rows:
        row = dict(raw)
        _open_person(opener, row, "participant")
        row["event_data"] = opener.json(row["event_data"], sealing.PARTICIPANT_EVENT_DATA, {})
        rows.append(row)
    return replace(page, rows=rows)


def chat_messages_page(
    conn: Connection,
    *,
    bot_id: str,
    key: DataKey | KeySource | None,
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
    page = keyset_page(
        conn, query, chat_messages.c.created_at, chat_messages.c.id, position=position, limit=limit
    )
    opener = Opener(bot_id, key)
    rows = []
    for raw in page.rows:
        row = dict(raw)
        row["text"] = opener.text(row["text"], sealing.CHAT_TEXT)
        row["additional_data"] = opener.json(
            row["additional_data"], sealing.CHAT_ADDITIONAL_DATA, {}
        )
        _open_person(opener, row, "sender")
        rows.append(row)
    return replace(page, rows=rows)


def recording(conn: Connection, *, bot_id: str) -> RowMapping | None:
    return conn.execute(_RECORDING, {"bot_id": bot_id}).mappings().first()


def participant_by_uuid(
    conn: Connection, *, bot_id: str, key: DataKey | None, uuid: str
) -> dict[str, Any] | None:
    """The participant with this uuid (found by its keyed hash); None without a key."""
    if key is None:
        return None
    row = (
        conn.execute(
            select(participants).where(
                participants.c.bot_id == bot_id,
                participants.c.uuid_hash == key.lookup_hash(uuid),
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else _open_participant(Opener(bot_id, key), row)


_requests = bot_chat_message_requests


def pending_chat_message_requests(
    conn: Connection, *, bot_id: str, key: DataKey | None
) -> list[dict[str, Any]]:
    """Chat messages the API queued for the bot and it has not sent yet, oldest first."""
    rows = conn.execute(
        select(_requests.c.id, _requests.c.to, _requests.c.to_user_uuid, _requests.c.message)
        .where(_requests.c.bot_id == bot_id, _requests.c.state == "pending")
        .order_by(_requests.c.id)
    ).mappings()
    opener = Opener(bot_id, key)
    return [
        {
            **row,
            "to_user_uuid": opener.text(row["to_user_uuid"], sealing.CHAT_REQUEST_TO_USER),
            "message": opener.text(row["message"], sealing.CHAT_REQUEST_MESSAGE),
        }
        for row in rows
    ]
