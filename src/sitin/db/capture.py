"""The deletion fence: every write of captured meeting data goes through this module.

Each function first checks, inside the caller's write transaction, that the bot exists and its data
has not been deleted, holding a share lock on the bot row (PostgreSQL) until commit; SQLite write
transactions are already serialised (``BEGIN IMMEDIATE``). delete_data moves the bot to
``data_deleted`` under an exclusive lock, so a capture write either commits before the deletion
(and is then deleted by it) or sees ``data_deleted`` and is refused: nothing is resurrected.

Captured content is sealed here under the bot's data key (``sitin.db.sealing`` names the columns),
fetched after the fence check: delete_data destroys the key only after its fence commits, so no
write can create a key for a bot whose data is gone.
"""

import re
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from sitin.core.ids import new_id
from sitin.core.scrub import split_event_metadata
from sitin.core.states import BotState
from sitin.core.timefmt import utcnow
from sitin.db import sealing
from sitin.db.bots import lock_state_shared
from sitin.db.engine import Tx
from sitin.db.tables import (
    audio_segments,
    bot_chat_message_requests,
    bot_log_entries,
    bot_output_requests,
    chat_messages,
    participant_events,
    participants,
    recordings,
    utterances,
)
from sitin.encryption import DataKey, KeyDestroyed

BLOB_KEY_PART = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")


class DataDeleted(RuntimeError):
    """The bot's captured data was deleted (or the bot is gone): the write is refused."""


def ensure_capturable(conn: Connection, bot_id: str) -> None:
    state = lock_state_shared(conn, bot_id=bot_id)
    if state is None or state == BotState.DATA_DELETED:
        raise DataDeleted(f"bot {bot_id}: captured data was deleted; write refused")


def sealing_key(tx: Tx, bot_id: str) -> DataKey:
    """The fence check, then the bot's data key (created on first use)."""
    ensure_capturable(tx.conn, bot_id)
    try:
        return tx.keys.key_for_writing(bot_id)
    except KeyDestroyed:
        raise DataDeleted(f"bot {bot_id}: its data key was destroyed; write refused") from None


def stored_event_metadata(tx: Tx, bot_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """An event's metadata as stored: the allow-listed keys as they are, the rest (which may
    name a participant) sealed under the bot's key in one value. For a bot whose data is
    deleted the rest is dropped: it could never be read again."""
    safe, private = split_event_metadata(metadata)
    if not private:
        return safe
    try:
        key = sealing_key(tx, bot_id)
    except DataDeleted:
        return safe
    return {**safe, sealing.SEALED_EVENT_KEY: key.seal_json(private, sealing.EVENT_METADATA)}


def upsert_participant(
    tx: Tx, *, bot_id: str, uuid: str, name: str, is_host: bool, user_uuid: str | None = None
) -> str:
    """The participant's id, inserting it on first sight (unique per bot and uuid, matched
    through the keyed hash of the uuid)."""
    key = sealing_key(tx, bot_id)
    uuid_hash = key.lookup_hash(uuid)
    existing = tx.conn.execute(
        select(participants.c.id).where(
            participants.c.bot_id == bot_id, participants.c.uuid_hash == uuid_hash
        )
    ).scalar_one_or_none()
    if existing:
        return existing
    participant_id = new_id("par")
    tx.conn.execute(
        insert(participants).values(
            id=participant_id,
            bot_id=bot_id,
            uuid=key.seal_text(uuid, sealing.PARTICIPANT_UUID),
            uuid_hash=uuid_hash,
            user_uuid=key.seal_text(user_uuid, sealing.PARTICIPANT_USER_UUID),
            name=key.seal_text(name, sealing.PARTICIPANT_NAME),
            is_host=is_host,
            created_at=utcnow(),
        )
    )
    return participant_id


def add_participant_event(
    tx: Tx,
    *,
    bot_id: str,
    participant_id: str,
    event_type: str,
    timestamp_ms: int,
    event_data: dict[str, Any] | None = None,
) -> str:
    key = sealing_key(tx, bot_id)
    event_id = new_id("pe")
    tx.conn.execute(
        insert(participant_events).values(
            id=event_id,
            bot_id=bot_id,
            participant_id=participant_id,
            event_type=event_type,
            event_data=key.seal_json(event_data or {}, sealing.PARTICIPANT_EVENT_DATA),
            timestamp_ms=timestamp_ms,
            created_at=utcnow(),
        )
    )
    return event_id


def add_chat_message(
    tx: Tx,
    *,
    bot_id: str,
    participant_id: str,
    text: str,
    timestamp_ms: int,
    to: str = "everyone",
    additional_data: dict[str, Any] | None = None,
) -> str:
    key = sealing_key(tx, bot_id)
    message_id = new_id("msg")
    tx.conn.execute(
        insert(chat_messages).values(
            id=message_id,
            bot_id=bot_id,
            participant_id=participant_id,
            text=key.seal_text(text, sealing.CHAT_TEXT),
            timestamp=timestamp_ms // 1000,
            timestamp_ms=timestamp_ms,
            to=to,
            additional_data=key.seal_json(additional_data or {}, sealing.CHAT_ADDITIONAL_DATA),
            created_at=utcnow(),
        )
    )
    return message_id


_RECORDING_ID = select(recordings.c.id).where(recordings.c.bot_id == bindparam("bot_id"))


def default_recording_id(conn: Connection, bot_id: str) -> str:
    return conn.execute(_RECORDING_ID, {"bot_id": bot_id}).scalar_one()


def add_utterance(
    tx: Tx,
    *,
    bot_id: str,
    participant_id: str,
    timestamp_ms: int,
    duration_ms: int,
    transcription: dict[str, Any] | None = None,
    failure_data: dict[str, Any] | None = None,
    source: str = "realtime",
) -> int:
    key = sealing_key(tx, bot_id)
    now = utcnow()
    result = tx.conn.execute(
        insert(utterances).values(
            bot_id=bot_id,
            recording_id=default_recording_id(tx.conn, bot_id),
            participant_id=participant_id,
            source=source,
            timestamp_ms=timestamp_ms,
            duration_ms=duration_ms,
            transcription=key.seal_json(transcription, sealing.UTTERANCE_TRANSCRIPTION),
            failure_data=key.seal_json(failure_data, sealing.UTTERANCE_FAILURE),
            created_at=now,
            updated_at=now,
        )
    )
    return result.inserted_primary_key[0]


def replace_utterances(
    tx: Tx,
    *,
    bot_id: str,
    participant_id: str,
    new: list[tuple[int, int, dict[str, Any]]],
    source: str,
) -> int:
    """Replace every utterance of one participant with `new` ((timestamp_ms, duration_ms,
    transcription) each, stored under `source`); returns how many were removed. Call once per
    participant inside one transaction: the transcript changes all at once or not at all."""
    sealing_key(tx, bot_id)  # the fence, before anything is removed
    removed = tx.conn.execute(
        delete(utterances).where(
            utterances.c.bot_id == bot_id, utterances.c.participant_id == participant_id
        )
    ).rowcount
    for timestamp_ms, duration_ms, transcription in new:
        add_utterance(
            tx,
            bot_id=bot_id,
            participant_id=participant_id,
            timestamp_ms=timestamp_ms,
            duration_ms=duration_ms,
            transcription=transcription,
            source=source,
        )
    return removed


def complete_utterance(
    tx: Tx,
    *,
    bot_id: str,
    utterance_id: int,
    transcription: dict[str, Any] | None,
    failure_data: dict[str, Any] | None = None,
) -> None:
    key = sealing_key(tx, bot_id)
    tx.conn.execute(
        update(utterances)
        .where(utterances.c.id == utterance_id, utterances.c.bot_id == bot_id)
        .values(
            transcription=key.seal_json(transcription, sealing.UTTERANCE_TRANSCRIPTION),
            failure_data=key.seal_json(failure_data, sealing.UTTERANCE_FAILURE),
            updated_at=utcnow(),
        )
    )


def add_audio_segment(
    tx: Tx,
    *,
    bot_id: str,
    participant_id: str,
    blob_key: str,
    blob_size: int,
    sample_rate: int,
    timestamp_ms: int,
    duration_ms: int,
) -> int:
    ensure_capturable(tx.conn, bot_id)
    _check_blob_key(bot_id, blob_key)
    result = tx.conn.execute(
        insert(audio_segments).values(
            bot_id=bot_id,
            recording_id=default_recording_id(tx.conn, bot_id),
            participant_id=participant_id,
            blob_key=blob_key,
            blob_size=blob_size,
            sample_rate=sample_rate,
            timestamp_ms=timestamp_ms,
            duration_ms=duration_ms,
            created_at=utcnow(),
        )
    )
    return result.inserted_primary_key[0]


def set_recording_file(
    tx: Tx,
    *,
    bot_id: str,
    blob_key: str,
    blob_size: int,
    first_buffer_timestamp_ms: int | None,
) -> None:
    ensure_capturable(tx.conn, bot_id)
    _check_blob_key(bot_id, blob_key)
    tx.conn.execute(
        update(recordings)
        .where(recordings.c.bot_id == bot_id)
        .values(
            blob_key=blob_key,
            blob_size=blob_size,
            first_buffer_timestamp_ms=first_buffer_timestamp_ms,
            updated_at=utcnow(),
        )
    )


def add_log_entry(tx: Tx, *, bot_id: str, level: str, entry_type: str, message: str) -> str:
    key = sealing_key(tx, bot_id)
    entry_id = new_id("log")
    tx.conn.execute(
        insert(bot_log_entries).values(
            id=entry_id,
            bot_id=bot_id,
            level=level,
            entry_type=entry_type,
            message=key.seal_text(message, sealing.LOG_MESSAGE),
            created_at=utcnow(),
        )
    )
    return entry_id


def add_chat_message_request(
    tx: Tx, *, bot_id: str, to: str, to_user_uuid: str | None, message: str
) -> int:
    key = sealing_key(tx, bot_id)
    result = tx.conn.execute(
        insert(bot_chat_message_requests).values(
            bot_id=bot_id,
            to=to,
            to_user_uuid=key.seal_text(to_user_uuid, sealing.CHAT_REQUEST_TO_USER),
            message=key.seal_text(message, sealing.CHAT_REQUEST_MESSAGE),
            state="pending",
            created_at=utcnow(),
        )
    )
    return result.inserted_primary_key[0]


def mark_chat_message_request(
    tx: Tx, *, bot_id: str, request_id: int, sent: bool, failure: str | None = None
) -> None:
    key = sealing_key(tx, bot_id)  # the reason may name a participant ("… is not in the chat")
    tx.conn.execute(
        update(bot_chat_message_requests)
        .where(
            bot_chat_message_requests.c.id == request_id,
            bot_chat_message_requests.c.bot_id == bot_id,
        )
        .values(
            state="sent" if sent else "failed",
            sent_at=utcnow() if sent else None,
            failure_data=(
                key.seal_json({"reason": failure}, sealing.CHAT_REQUEST_FAILURE)
                if failure
                else None
            ),
        )
    )


def add_output_request(
    tx: Tx,
    *,
    bot_id: str,
    kind: str,
    container: str | None = None,
    data: bytes | None = None,
    text: str | None = None,
    settings: dict[str, Any] | None = None,
) -> int:
    """Queue audio (`container`, `data`) or speech (`text`, `settings`) for the bot to play.

    The audio and the words are sealed under the bot's key like captured content: the row is
    deleted when the bot takes it, but its bytes may linger in the WAL or as dead tuples.
    """
    key = sealing_key(tx, bot_id)
    result = tx.conn.execute(
        insert(bot_output_requests).values(
            bot_id=bot_id,
            kind=kind,
            container=container,
            data=None if data is None else key.seal(data, sealing.OUTPUT_AUDIO.encode()),
            text=key.seal_text(text, sealing.OUTPUT_TEXT),
            settings=settings,
            created_at=utcnow(),
        )
    )
    return result.inserted_primary_key[0]


def take_output_requests(tx: Tx, *, bot_id: str) -> list[dict[str, Any]]:
    """The bot's waiting output requests, oldest first, opened and deleted as handed over."""
    key = sealing_key(tx, bot_id)
    rows = [
        _opened_output_request(key, dict(row))
        for row in tx.conn.execute(
            select(bot_output_requests)
            .where(bot_output_requests.c.bot_id == bot_id)
            .order_by(bot_output_requests.c.id)
        ).mappings()
    ]
    if rows:
        tx.conn.execute(
            delete(bot_output_requests).where(
                bot_output_requests.c.bot_id == bot_id,
                bot_output_requests.c.id <= rows[-1]["id"],
            )
        )
    return rows


def _opened_output_request(key: DataKey, row: dict[str, Any]) -> dict[str, Any]:
    if row["data"] is not None:
        row["data"] = key.open(bytes(row["data"]), sealing.OUTPUT_AUDIO.encode())
    row["text"] = key.open_text(row["text"], sealing.OUTPUT_TEXT)
    return row


def blob_prefix(bot_id: str) -> str:
    """Every blob of a bot lives under this key prefix."""
    return f"bots/{_key_part(bot_id)}/"


def blob_key(bot_id: str, *parts: str) -> str:
    """The key of one of the bot's blobs, e.g. ``bots/<id>/audio/<participant id>/<name>.wav``.

    Each part must be a plain name (letters, digits, ``._-``, not starting with a dot): build
    parts from ids and numbers sitin generated, never from what a meeting reported.
    """
    if not parts:
        raise ValueError("a blob key needs a name under the bot's prefix")
    return blob_prefix(bot_id) + "/".join(_key_part(part) for part in parts)


def _key_part(part: str) -> str:
    if not BLOB_KEY_PART.fullmatch(part):
        raise ValueError(
            f"{part!r} cannot be part of a blob key: use 1-128 letters, digits, '.', '_' or '-', "
            "not starting with '.'"
        )
    return part


def _check_blob_key(bot_id: str, blob_key: str) -> None:
    if not blob_key.startswith(blob_prefix(bot_id)) or ".." in blob_key:
        raise ValueError(f"blob key {blob_key!r} is outside {blob_prefix(bot_id)}")
