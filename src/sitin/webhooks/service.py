"""Project-level subscriptions (create, list, delete), a bot's delivery attempts, and the purge
delete_data runs on them.

Bot-level subscriptions are created with the bot (``services.bots.create_bot``) and live as long as
it does; this module only manages the project-level ones (``bot_id`` null).
"""

from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.engine import RowMapping

from sitin.core.errors import FieldErrors, WebhookNotFound
from sitin.core.ids import new_id
from sitin.core.scrub import safe_event_metadata
from sitin.core.timefmt import to_wire, utcnow
from sitin.core.triggers import WEBHOOK_TRIGGERS, Trigger
from sitin.db.engine import Tx
from sitin.db.pagination import Page, Position, keyset_page
from sitin.db.sealing import WEBHOOK_PAYLOAD, Opener
from sitin.db.tables import webhook_delivery_attempts, webhook_subscriptions
from sitin.outbound import OutboundGuard, Purpose, RefusedTarget

subs = webhook_subscriptions
attempts_table = webhook_delivery_attempts


# --- subscriptions ---------------------------------------------------------------------------


def validate_subscription(body: Any, *, guard: OutboundGuard) -> dict[str, Any]:
    """``{"url", "triggers", "is_active"?}`` → validated values; raises FieldErrors."""
    if not isinstance(body, dict):
        raise FieldErrors({"non_field_errors": ["Expected an object with url and triggers"]})
    unknown = sorted(set(body) - {"url", "triggers", "is_active"})
    if unknown:
        raise FieldErrors(
            {
                "non_field_errors": [
                    f"Unexpected attribute: {unknown[0]}. Allowed: url, triggers, is_active"
                ]
            }
        )
    url, triggers, active = body.get("url"), body.get("triggers"), body.get("is_active", True)
    if not isinstance(url, str) or not url.strip():
        raise FieldErrors({"url": ["This field is required."]})
    if len(url) > 2048:
        raise FieldErrors({"url": ["Ensure this field has no more than 2048 characters."]})
    try:
        guard.check_url(url, Purpose.WEBHOOK)
    except RefusedTarget as exc:
        raise FieldErrors({"url": [str(exc)]}) from None
    if not isinstance(triggers, list) or not triggers:
        raise FieldErrors({"triggers": ["triggers must be a non-empty list"]})
    for trigger in triggers:
        if trigger not in WEBHOOK_TRIGGERS:
            raise FieldErrors(
                {
                    "triggers": [
                        f"Invalid webhook trigger type: {trigger}. "
                        f"Valid triggers: {', '.join(WEBHOOK_TRIGGERS)}"
                    ]
                }
            )
    if len(set(triggers)) != len(triggers):
        raise FieldErrors({"triggers": ["triggers must be unique"]})
    if not isinstance(active, bool):
        raise FieldErrors({"is_active": ["Must be a valid boolean."]})
    return {"url": url, "triggers": list(triggers), "is_active": active}


def create_subscription(tx: Tx, guard: OutboundGuard, *, project_id: str, body: Any) -> RowMapping:
    values = validate_subscription(body, guard=guard)
    _require_unused_url(tx.conn, project_id, values["url"])
    webhook_id = new_id("webhook")
    tx.conn.execute(
        insert(subs).values(
            id=webhook_id, project_id=project_id, bot_id=None, created_at=utcnow(), **values
        )
    )
    return get_subscription(tx.conn, project_id=project_id, webhook_id=webhook_id)


def get_subscription(conn: Connection, *, project_id: str, webhook_id: str) -> RowMapping:
    row = (
        conn.execute(
            select(subs).where(
                subs.c.id == webhook_id, subs.c.project_id == project_id, subs.c.bot_id.is_(None)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise WebhookNotFound(webhook_id)
    return row


def list_subscriptions(
    conn: Connection, *, project_id: str, position: Position | None, limit: int
) -> Page:
    query = select(subs).where(subs.c.project_id == project_id, subs.c.bot_id.is_(None))
    return keyset_page(conn, query, subs.c.created_at, subs.c.id, position=position, limit=limit)


def update_subscription(
    tx: Tx, guard: OutboundGuard, *, project_id: str, webhook_id: str, body: Any
) -> RowMapping:
    """Change any of url, triggers, is_active (validated as at creation); an inactive
    subscription gets no new deliveries. Raises WebhookNotFound or FieldErrors."""
    current = get_subscription(tx.conn, project_id=project_id, webhook_id=webhook_id)
    if not isinstance(body, dict) or not body:
        raise FieldErrors(
            {"non_field_errors": ["Expected an object with url, triggers and/or is_active"]}
        )
    merged = {key: current[key] for key in ("url", "triggers", "is_active")}
    values = validate_subscription({**merged, **body}, guard=guard)
    if values["url"] != current["url"]:
        _require_unused_url(tx.conn, project_id, values["url"])
    tx.conn.execute(update(subs).where(subs.c.id == webhook_id).values(**values))
    return get_subscription(tx.conn, project_id=project_id, webhook_id=webhook_id)


def _require_unused_url(conn: Connection, project_id: str, url: str) -> None:
    taken = conn.execute(
        select(subs.c.id).where(
            subs.c.project_id == project_id, subs.c.bot_id.is_(None), subs.c.url == url
        )
    ).first()
    if taken is not None:
        raise FieldErrors({"url": [f"URL already subscribed for this project: {url}"]})


def delete_subscription(tx: Tx, *, project_id: str, webhook_id: str) -> None:
    """Delete the subscription; its pending deliveries go with it (they are never sent)."""
    get_subscription(tx.conn, project_id=project_id, webhook_id=webhook_id)
    tx.conn.execute(delete(subs).where(subs.c.id == webhook_id))


def render_subscription(row: RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"],
        "url": row["url"],
        "triggers": row["triggers"],
        "is_active": row["is_active"],
        "created_at": to_wire(row["created_at"]),
    }


# --- delivery attempts -----------------------------------------------------------------------


def list_deliveries(
    conn: Connection, *, bot_id: str, position: Position | None, limit: int
) -> Page:
    query = (
        select(attempts_table, subs.c.url)
        .join(subs, subs.c.id == attempts_table.c.subscription_id)
        .where(attempts_table.c.bot_id == bot_id)
    )
    return keyset_page(
        conn,
        query,
        attempts_table.c.created_at,
        attempts_table.c.id,
        position=position,
        limit=limit,
    )


def open_payload(opener: Opener, payload: Any) -> Any:
    """A content trigger's payload is sealed under the bot's key; a state change's is plain."""
    if isinstance(payload, str):
        return opener.json(payload, WEBHOOK_PAYLOAD)
    return payload


def render_delivery(row: RowMapping, opener: Opener) -> dict[str, Any]:
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
        "payload": open_payload(opener, row["payload"]),
    }


# --- delete_data -----------------------------------------------------------------------------

# Every delivery attempt of a bot except its bot.state_change ones: those carry meeting content.
# delete_data runs this in its fenced transaction (pending ones are thereby cancelled, and an
# in-flight one finds no row to update).
CONTENT_DELIVERIES_OF_BOT = delete(attempts_table).where(
    attempts_table.c.bot_id == bindparam("bot_id"),
    attempts_table.c.trigger != Trigger.STATE_CHANGE.value,
)
_KEPT_DELIVERIES = select(
    attempts_table.c.id, attempts_table.c.payload, attempts_table.c.attempts
).where(attempts_table.c.bot_id == bindparam("bot_id"))
_SCRUB_DELIVERY = (
    update(attempts_table)
    .where(attempts_table.c.id == bindparam("attempt_id"))
    .values(payload=bindparam("scrubbed_payload"), attempts=bindparam("scrubbed_attempts"))
)


def scrub_kept_deliveries(conn: Connection, bot_id: str) -> None:
    """For delete_data, after CONTENT_DELIVERIES_OF_BOT: reduce the kept (state_change) payloads'
    event metadata to the allow-list and drop the receivers' response excerpts."""
    for row in conn.execute(_KEPT_DELIVERIES, {"bot_id": bot_id}):
        payload = dict(row.payload or {})
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
