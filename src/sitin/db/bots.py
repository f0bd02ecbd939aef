"""Bot rows: insert, look up (scoped to a project for the API), list a page, update, delete;
the running bot's heartbeat, and the lookups supervision, retention and deletion make."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import RowMapping

from sitin.core.ids import new_id
from sitin.core.states import BotState, RecordingState, TranscriptionState
from sitin.core.timefmt import utcnow
from sitin.db.pagination import Page, Position, keyset_page
from sitin.db.tables import api_keys, bot_events, bots, projects, recordings

_BOT_COLUMNS = (
    bots.c.id,
    bots.c.project_id,
    bots.c.name,
    bots.c.meeting_url,
    bots.c.platform,
    bots.c.state,
    bots.c.join_at,
    bots.c.deduplication_key,
    bots.c.metadata,
    bots.c.settings,
    bots.c.data_retention_seconds,
    bots.c.created_at,
    bots.c.updated_at,
    bots.c.ended_at,
    recordings.c.id.label("recording_id"),
    recordings.c.state.label("recording_state"),
    recordings.c.transcription_state,
    recordings.c.format.label("recording_format"),
    recordings.c.blob_key.label("recording_blob_key"),
)


def _with_recording() -> Select:
    return select(*_BOT_COLUMNS).select_from(
        bots.outerjoin(recordings, recordings.c.bot_id == bots.c.id)
    )


def insert_bot(
    conn: Connection,
    *,
    project_id: str,
    name: str,
    meeting_url: str,
    platform: str,
    state: BotState,
    join_at: datetime | None,
    deduplication_key: str | None,
    metadata: dict | None,
    settings: dict[str, Any],
    data_retention_seconds: int | None,
) -> str:
    """Insert a bot and its default recording; returns the bot id."""
    bot_id = new_id("bot")
    now = utcnow()
    conn.execute(
        insert(bots).values(
            id=bot_id,
            project_id=project_id,
            name=name,
            meeting_url=meeting_url,
            platform=platform,
            state=state.value,
            join_at=join_at,
            deduplication_key=deduplication_key,
            metadata=metadata,
            settings=settings,
            data_retention_seconds=data_retention_seconds,
            created_at=now,
            updated_at=now,
        )
    )
    conn.execute(
        insert(recordings).values(
            id=new_id("rec"),
            bot_id=bot_id,
            format=settings["recording_settings"]["format"],
            state=RecordingState.NOT_STARTED.value,
            transcription_state=TranscriptionState.NOT_STARTED.value,
            created_at=now,
            updated_at=now,
        )
    )
    return bot_id


# The hottest statements are built once: constructing a statement and computing its cache key
# costs several times more than SQLite takes to run it.
_GET_IN_PROJECT = _with_recording().where(
    bots.c.id == bindparam("bot_id"), bots.c.project_id == bindparam("project_id")
)
_EVENTS_OF_BOTS = (
    select(
        bot_events.c.bot_id,
        bot_events.c.event_type,
        bot_events.c.sub_type,
        bot_events.c.created_at,
    )
    .where(bot_events.c.bot_id.in_(bindparam("bot_ids", expanding=True)))
    .order_by(bot_events.c.bot_id, bot_events.c.id)
)


# The bot as the API shows it in one statement: the bot, its recording states and its events (one
# row per event, the bot's columns repeated; a bot has a handful of events).
_WIRE_COLUMNS = (
    bot_events.c.event_type,  # the event first: ``_as_view`` takes it as the row's first three
    bot_events.c.sub_type,
    bot_events.c.created_at,
    bots.c.id,
    bots.c.metadata,
    bots.c.meeting_url,
    bots.c.state,
    bots.c.join_at,
    bots.c.deduplication_key,
    recordings.c.state.label("recording_state"),
    recordings.c.transcription_state,
)
_BOT_WITH_EVENTS = bots.outerjoin(recordings, recordings.c.bot_id == bots.c.id).outerjoin(
    bot_events, bot_events.c.bot_id == bots.c.id
)
# GET /bots/{id}, the hottest read: the key check too.
_WIRE_BOT_FOR_KEY = (
    select(*_WIRE_COLUMNS)
    .select_from(api_keys.join(_BOT_WITH_EVENTS, bots.c.project_id == api_keys.c.project_id))
    .where(
        api_keys.c.key_hash == bindparam("key_hash"),
        api_keys.c.disabled_at.is_(None),
        bots.c.id == bindparam("bot_id"),
    )
    .order_by(bot_events.c.id)
)
_WIRE_BOT_IN_PROJECT = (
    select(*_WIRE_COLUMNS)
    .select_from(_BOT_WITH_EVENTS)
    .where(bots.c.id == bindparam("bot_id"), bots.c.project_id == bindparam("project_id"))
    .order_by(bot_events.c.id)
)


def get(conn: Connection, *, project_id: str, bot_id: str) -> RowMapping | None:
    """The bot with its recording states, only if it belongs to ``project_id``."""
    params = {"bot_id": bot_id, "project_id": project_id}
    return conn.execute(_GET_IN_PROJECT, params).mappings().first()


def get_any(conn: Connection, *, bot_id: str) -> RowMapping | None:
    """Unscoped lookup, for the worker and periodic jobs only (never for API callers)."""
    return conn.execute(_with_recording().where(bots.c.id == bot_id)).mappings().first()


class BotEvent(NamedTuple):
    """A bot event as the API shows it. The views below hold plain ``(event_type, sub_type,
    created_at)`` tuples of the rows read: a mapping (or even attribute access) per row of a
    page's 150 events costs more than SQLite takes to find them."""

    event_type: str
    sub_type: str | None
    created_at: datetime


@dataclass(frozen=True)
class BotView:
    """A bot and its events (oldest first) as read in one transaction: what the API renders."""

    row: RowMapping
    events: list[BotEvent]


def view(conn: Connection, *, project_id: str, bot_id: str) -> BotView | None:
    params = {"bot_id": bot_id, "project_id": project_id}
    return _as_view(conn.execute(_WIRE_BOT_IN_PROJECT, params).all())


def view_for_key(conn: Connection, *, key_hash: str, bot_id: str) -> BotView | None:
    """The bot if the key is active and the bot is in the key's project; None: bad key or not
    found."""
    params = {"key_hash": key_hash, "bot_id": bot_id}
    return _as_view(conn.execute(_WIRE_BOT_FOR_KEY, params).all())


def _as_view(rows: list[Row]) -> BotView | None:
    if not rows:
        return None
    first = rows[0]
    events = [row[:3] for row in rows] if first[0] is not None else []
    return BotView(first._mapping, events)  # type: ignore[arg-type]


def events_for(conn: Connection, bot_ids: list[str]) -> dict[str, list[BotEvent]]:
    """Events of several bots in one query, oldest first."""
    result: dict[str, list[BotEvent]] = {bot_id: [] for bot_id in bot_ids}
    if not bot_ids:
        return result
    # .all(): one fetchall, not a fetch per row
    for row in conn.execute(_EVENTS_OF_BOTS, {"bot_ids": list(bot_ids)}).all():
        result[row[0]].append(row[1:])  # type: ignore[arg-type]  # (bot_id, *event)
    return result


@dataclass(frozen=True)
class BotFilters:
    meeting_url: str | None = None
    deduplication_key: str | None = None
    states: tuple[str, ...] = ()
    join_at_after: datetime | None = None
    join_at_before: datetime | None = None


def list_page_for_key(
    conn: Connection,
    *,
    key_hash: str,
    filters: BotFilters,
    position: Position | None,
    limit: int,
) -> Page:
    """A page of the bots of the key's project, if the key is active, with the columns the API
    shows (and ``created_at`` for the cursor). An empty page: no such bots, or a bad key."""
    query = _list_query(
        filters.meeting_url is not None,
        filters.deduplication_key is not None,
        bool(filters.states),
        filters.join_at_after is not None,
        filters.join_at_before is not None,
    )
    params = {
        "key_hash": key_hash,
        "meeting_url": filters.meeting_url,
        "deduplication_key": filters.deduplication_key,
        "states": list(filters.states),
        "join_at_after": filters.join_at_after,
        "join_at_before": filters.join_at_before,
    }
    return keyset_page(
        conn, query, bots.c.created_at, bots.c.id, position=position, limit=limit, params=params
    )


_PAGE_COLUMNS = (
    bots.c.id,
    bots.c.metadata,
    bots.c.meeting_url,
    bots.c.state,
    bots.c.join_at,
    bots.c.deduplication_key,
    bots.c.created_at,
    recordings.c.state.label("recording_state"),
    recordings.c.transcription_state,
)


@lru_cache(maxsize=32)
def _list_query(
    meeting_url: bool, deduplication_key: bool, states: bool, after: bool, before: bool
) -> Select:
    """The list's statement for one combination of filters, built once (values bound)."""
    # The key's project as a scalar subquery, not a join: joined, PostgreSQL sorted every bot of
    # the project for the page; with a value it walks the (project_id, created_at, id) index.
    project_of_key = (
        select(api_keys.c.project_id)
        .where(api_keys.c.key_hash == bindparam("key_hash"), api_keys.c.disabled_at.is_(None))
        .scalar_subquery()
    )
    query = (
        select(*_PAGE_COLUMNS)
        .select_from(bots.outerjoin(recordings, recordings.c.bot_id == bots.c.id))
        .where(bots.c.project_id == project_of_key)
    )
    if meeting_url:
        query = query.where(bots.c.meeting_url == bindparam("meeting_url"))
    if deduplication_key:
        query = query.where(bots.c.deduplication_key == bindparam("deduplication_key"))
    if states:
        query = query.where(bots.c.state.in_(bindparam("states", expanding=True)))
    if after:
        query = query.where(bots.c.join_at > bindparam("join_at_after"))
    if before:
        query = query.where(bots.c.join_at < bindparam("join_at_before"))
    return query


def update_fields(conn: Connection, *, bot_id: str, **values: Any) -> None:
    conn.execute(update(bots).where(bots.c.id == bot_id).values(updated_at=utcnow(), **values))


def update_recording_format(conn: Connection, *, bot_id: str, fmt: str) -> None:
    conn.execute(update(recordings).where(recordings.c.bot_id == bot_id).values(format=fmt))


def delete_bot(conn: Connection, *, bot_id: str) -> None:
    conn.execute(delete(bots).where(bots.c.id == bot_id))


_PROJECT_AND_METADATA = select(bots.c.project_id, bots.c.metadata).where(
    bots.c.id == bindparam("bot_id")
)


def project_and_metadata(conn: Connection, *, bot_id: str) -> Row | None:
    """What a webhook envelope needs of the bot (``project_id``, ``metadata``)."""
    return conn.execute(_PROJECT_AND_METADATA, {"bot_id": bot_id}).first()


# Built once: every captured write runs it (building it cost more than running it).
_STATE_SHARED = (
    select(bots.c.state).where(bots.c.id == bindparam("bot_id")).with_for_update(read=True)
)


def lock_state_shared(conn: Connection, *, bot_id: str) -> BotState | None:
    """The bot's state under a share lock (PostgreSQL; SQLite's writers are serialised): a
    delete_data, which locks the row exclusively, cannot run between this read and the commit."""
    state = conn.execute(_STATE_SHARED, {"bot_id": bot_id}).scalar_one_or_none()
    return BotState(state) if state is not None else None


def scheduled_by(conn: Connection, *, horizon: datetime) -> list[Row]:
    """Scheduled bots whose ``join_at`` is at or before ``horizon`` (``id``, ``join_at``)."""
    return conn.execute(
        select(bots.c.id, bots.c.join_at).where(
            bots.c.state == BotState.SCHEDULED.value, bots.c.join_at <= horizon
        )
    ).all()


def silent(
    conn: Connection,
    *,
    states: Iterable[BotState],
    heartbeat_before: datetime,
    unlaunched_before: datetime,
) -> list[Row]:
    """Bots in ``states`` whose last heartbeat is older than ``heartbeat_before``, or that never
    sent one and last changed before ``unlaunched_before`` (``id``, ``state``,
    ``last_heartbeat_at``)."""
    return conn.execute(
        select(bots.c.id, bots.c.state, bots.c.last_heartbeat_at).where(
            bots.c.state.in_([state.value for state in states]),
            or_(
                bots.c.last_heartbeat_at < heartbeat_before,
                and_(bots.c.last_heartbeat_at.is_(None), bots.c.updated_at < unlaunched_before),
            ),
        )
    ).all()


def states_of(conn: Connection, bot_ids: list[str]) -> dict[str, str]:
    """The state of each of these bots that exists (keep the list to a few hundred ids)."""
    rows = conn.execute(select(bots.c.id, bots.c.state).where(bots.c.id.in_(bot_ids)))
    return {row.id: row.state for row in rows}


def ended_with_retention(conn: Connection, *, states: Iterable[BotState], limit: int) -> list[Row]:
    """Bots in ``states`` that ended and have a retention (their own, else their project's),
    earliest ended first: ``id``, ``ended_at``, ``retention`` (seconds)."""
    retention = func.coalesce(bots.c.data_retention_seconds, projects.c.data_retention_seconds)
    return conn.execute(
        select(bots.c.id, bots.c.ended_at, retention.label("retention"))
        .join(projects, projects.c.id == bots.c.project_id)
        .where(
            bots.c.state.in_([state.value for state in states]),
            bots.c.ended_at.is_not(None),
            retention.is_not(None),
        )
        .order_by(bots.c.ended_at)
        .limit(limit)
    ).all()


def ids_not_data_deleted(conn: Connection) -> set[str]:
    return set(
        conn.execute(select(bots.c.id).where(bots.c.state != BotState.DATA_DELETED.value)).scalars()
    )


def record_heartbeat(conn: Connection, *, bot_id: str) -> BotState | None:
    """Mark the bot alive now (the first heartbeat is kept too); its current state, so the
    runner notices changes made elsewhere."""
    now = utcnow()
    conn.execute(
        update(bots)
        .where(bots.c.id == bot_id)
        .values(
            last_heartbeat_at=now,
            first_heartbeat_at=func.coalesce(bots.c.first_heartbeat_at, now),
        )
    )
    return current_state(conn, bot_id=bot_id)


def current_state(conn: Connection, *, bot_id: str) -> BotState | None:
    state = conn.execute(select(bots.c.state).where(bots.c.id == bot_id)).scalar_one_or_none()
    return BotState(state) if state is not None else None


_FOR_DELETION = (
    select(
        bots.c.id,
        bots.c.project_id,
        bots.c.state,
        bots.c.settings,
        bots.c.created_at,
        bots.c.metadata,  # with state, created_at, project_id: what record_event reads
        recordings.c.blob_key.is_not(None).label("has_recording_file"),
    )
    .select_from(bots.outerjoin(recordings, recordings.c.bot_id == bots.c.id))
    .where(bots.c.id == bindparam("bot_id"))
    .with_for_update(of=bots)
)
_FOR_DELETION_IN_PROJECT = _FOR_DELETION.where(bots.c.project_id == bindparam("project_id"))


def lock_for_deletion(conn: Connection, *, bot_id: str, project_id: str | None) -> Row | None:
    """The bot's id, project_id, state, settings, created_at, metadata and whether its recording
    has a file (the row can be passed to ``record_event(locked=...)``); None if
    it does not exist (or is not in ``project_id`` when given). Locks the bot row until the
    transaction ends (PostgreSQL; on SQLite the write transaction holds the write lock)."""
    if project_id is None:
        return conn.execute(_FOR_DELETION, {"bot_id": bot_id}).first()
    return conn.execute(
        _FOR_DELETION_IN_PROJECT, {"bot_id": bot_id, "project_id": project_id}
    ).first()
