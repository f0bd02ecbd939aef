"""Webhook delivery attempts: one row per (event, subscription), written when a webhook fires,
claimed and updated by the deliverer, listed for diagnosis, and removed or scrubbed by
delete_data. A content trigger's payload is sealed under the bot's data key."""

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.engine import RowMapping

from sitin.core.scrub import safe_event_metadata
from sitin.core.triggers import Trigger
from sitin.db.pagination import Page, Position, keyset_page
from sitin.db.sealing import WEBHOOK_PAYLOAD, WEBHOOK_RESPONSE, Opener
from sitin.db.tables import webhook_delivery_attempts as attempts
from sitin.db.tables import webhook_subscriptions as subs
from sitin.encryption.aead import is_sealed

PENDING = "pending"


_INSERT = insert(attempts)


def add_attempts(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert attempt rows (all columns given; ``webhooks.dispatch.fire`` builds them)."""
    conn.execute(_INSERT, rows)


def open_payload(opener: Opener, payload: Any) -> Any:
    """A content trigger's payload is sealed under the bot's key, and a state change's whose
    event metadata goes beyond the allow-list; other state changes' are plain."""
    if isinstance(payload, str):
        return opener.json(payload, WEBHOOK_PAYLOAD)
    return payload


def open_history(opener: Opener, history: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """An attempt's history with the receivers' response excerpts opened."""
    opened = []
    for entry in history or []:
        excerpt = entry.get("response_excerpt")
        if is_sealed(excerpt):
            entry = {**entry, "response_excerpt": opener.text(excerpt, WEBHOOK_RESPONSE, None)}
        opened.append(entry)
    return opened


def bot_page(
    conn: Connection, *, bot_id: str, opener: Opener, position: Position | None, limit: int
) -> Page:
    """A page of the bot's attempts with their subscription's URL, payloads opened."""
    query = (
        select(attempts, subs.c.url)
        .join(subs, subs.c.id == attempts.c.subscription_id)
        .where(attempts.c.bot_id == bot_id)
    )
    page = keyset_page(
        conn, query, attempts.c.created_at, attempts.c.id, position=position, limit=limit
    )
    rows = [
        {
            **row,
            "payload": open_payload(opener, row["payload"]),
            "attempts": open_history(opener, row["attempts"]),
        }
        for row in page.rows
    ]
    return replace(page, rows=rows)


# --- the deliverer ---------------------------------------------------------------------------


# Built once: every delivery runs these, and building a statement costs more than SQLite takes
# to run it. (An UPDATE sets the columns its parameters name.)
_CLAIM = (
    select(attempts, subs.c.url, subs.c.project_id)
    .join(subs)
    .where(attempts.c.id == bindparam("attempt_id_"))
    .with_for_update(of=attempts)
)
# Pending state changes to one subscription for one bot: delivered in order.
_SAME_STREAM = and_(
    attempts.c.subscription_id == bindparam("subscription_id_"),
    attempts.c.bot_id == bindparam("bot_id_"),
    attempts.c.trigger == Trigger.STATE_CHANGE.value,
    attempts.c.status == PENDING,
)
_OLDER_IN_STREAM = (
    select(attempts.c.id)
    .where(
        _SAME_STREAM,
        or_(
            attempts.c.created_at < bindparam("created_at_"),
            and_(
                attempts.c.created_at == bindparam("created_at_"),
                attempts.c.id < bindparam("id_"),
            ),
        ),
    )
    .limit(1)
)
_NEXT_IN_STREAM = (
    select(attempts.c.id)
    .where(_SAME_STREAM)
    .order_by(attempts.c.created_at, attempts.c.id)
    .limit(1)
)
_UPDATE = update(attempts).where(attempts.c.id == bindparam("attempt_id_"))
_PENDING = attempts.c.id == bindparam("attempt_id_"), attempts.c.status == PENDING
_PENDING_HISTORY = select(attempts.c.attempts).where(*_PENDING)
_UPDATE_PENDING = update(attempts).where(*_PENDING)


def lock_for_claim(conn: Connection, *, attempt_id: str) -> RowMapping | None:
    """The attempt with its subscription's URL and project, locked: a duplicate task waits for
    this transaction and then sees the lease."""
    return conn.execute(_CLAIM, {"attempt_id_": attempt_id}).mappings().first()


def older_state_change_pending(conn: Connection, row: RowMapping) -> bool:
    """Whether a state change created before ``row`` in its stream is still pending."""
    params = {
        "subscription_id_": row["subscription_id"],
        "bot_id_": row["bot_id"],
        "created_at_": row["created_at"],
        "id_": row["id"],
    }
    return conn.execute(_OLDER_IN_STREAM, params).first() is not None


def next_state_change(conn: Connection, *, subscription_id: str, bot_id: str) -> str | None:
    """The oldest pending state change of the stream, if any."""
    params = {"subscription_id_": subscription_id, "bot_id_": bot_id}
    return conn.execute(_NEXT_IN_STREAM, params).scalar_one_or_none()


def update_attempt(conn: Connection, *, attempt_id: str, **values: Any) -> None:
    conn.execute(_UPDATE, {"attempt_id_": attempt_id, **values})


def pending_history(conn: Connection, *, attempt_id: str) -> list[dict] | None:
    """The attempt's history if it is still pending; None if it was deleted or finished."""
    row = conn.execute(_PENDING_HISTORY, {"attempt_id_": attempt_id}).first()
    return None if row is None else (row.attempts or [])


def update_pending(conn: Connection, *, attempt_id: str, **values: Any) -> bool:
    """Update the attempt only if still pending; whether it was (delete_data may have removed
    it while in flight: the outcome then changes nothing)."""
    return conn.execute(_UPDATE_PENDING, {"attempt_id_": attempt_id, **values}).rowcount == 1


def lost_pending(conn: Connection, *, due_before: datetime, limit: int) -> list[str]:
    """Pending attempts due before ``due_before`` (their queued task was lost), oldest first."""
    return list(
        conn.execute(
            select(attempts.c.id)
            .where(attempts.c.status == PENDING, attempts.c.next_attempt_at <= due_before)
            .order_by(attempts.c.next_attempt_at)
            .limit(limit)
        ).scalars()
    )


# --- delete_data -----------------------------------------------------------------------------

# Every delivery attempt of a bot except its bot.state_change ones: those carry meeting content.
# delete_data runs this in its fenced transaction (pending ones are thereby cancelled, and an
# in-flight one finds no row to update).
CONTENT_DELIVERIES_OF_BOT = delete(attempts).where(
    attempts.c.bot_id == bindparam("bot_id"),
    attempts.c.trigger != Trigger.STATE_CHANGE.value,
)
_KEPT_DELIVERIES = select(attempts.c.id, attempts.c.payload, attempts.c.attempts).where(
    attempts.c.bot_id == bindparam("bot_id")
)
_SCRUB_DELIVERY = (
    update(attempts)
    .where(attempts.c.id == bindparam("attempt_id"))
    .values(payload=bindparam("scrubbed_payload"), attempts=bindparam("scrubbed_attempts"))
)


_DELETE_DELIVERY = delete(attempts).where(attempts.c.id == bindparam("attempt_id"))


def scrub_kept_deliveries(conn: Connection, bot_id: str, opener: Opener) -> None:
    """For delete_data, after CONTENT_DELIVERIES_OF_BOT and before the key is destroyed: reduce
    the kept (state_change) payloads' event metadata to the allow-list, plain (a sealed one is
    opened first; one that does not open is deleted, it could never be sent or shown), and drop
    the receivers' response excerpts."""
    for row in conn.execute(_KEPT_DELIVERIES, {"bot_id": bot_id}):
        opened = open_payload(opener, row.payload)
        if not isinstance(opened, dict):
            conn.execute(_DELETE_DELIVERY, {"attempt_id": row.id})
            continue
        payload = dict(opened)
        data = dict(payload.get("data") or {})
        data["event_metadata"] = safe_event_metadata(data.get("event_metadata"))
        payload["data"] = data
        history = [
            {key: item for key, item in entry.items() if key != "response_excerpt"}
            for entry in row.attempts or []
        ]
        conn.execute(
            _SCRUB_DELIVERY,
            {"attempt_id": row.id, "scrubbed_payload": payload, "scrubbed_attempts": history},
        )


def existing_ids(conn: Connection, attempt_ids: set[str]) -> set[str]:
    """Which of these delivery attempts still exist."""
    found: set[str] = set()
    ids = sorted(attempt_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(conn.execute(select(attempts.c.id).where(attempts.c.id.in_(chunk))).scalars())
    return found
