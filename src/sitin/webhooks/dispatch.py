"""Firing a webhook: pick the subscriptions, write one attempt row each, queue delivery on commit.

``fire`` runs inside the caller's write transaction, so an event and its webhooks commit together
(or not at all), and nothing is queued for a transaction that rolls back. Meeting-content triggers
pass the deletion fence first: once a bot's data is deleted no new content delivery can be written.

Precedence (as Attendee): if the bot has any bot-level subscription, project-level ones are not
used for it. Inactive subscriptions and those without the trigger are skipped.
"""

import logging
import uuid
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row

from sitin.core.scrub import safe_event_metadata, split_event_metadata
from sitin.core.states import RecordedEvent
from sitin.core.timefmt import utcnow
from sitin.core.triggers import CONTENT_TRIGGERS, Trigger
from sitin.db import bots, webhook_deliveries, webhook_subscriptions
from sitin.db.capture import DataDeleted, sealing_key
from sitin.db.engine import Tx
from sitin.db.sealing import WEBHOOK_PAYLOAD
from sitin.queue import TaskQueue
from sitin.webhooks.envelope import build_envelope, state_change_data

log = logging.getLogger(__name__)

DELIVER_TASK = "webhook.deliver"


class BotRef(NamedTuple):
    """What an envelope needs of the bot, when the caller has already read it."""

    project_id: str
    metadata: dict[str, Any] | None


def subscriptions_for(conn: Connection, *, project_id: str, bot_id: str, trigger: str) -> list[Row]:
    """Active subscriptions for ``trigger``: the bot's own if it has any, else the project's."""
    candidates = webhook_subscriptions.candidates_for_bot(
        conn, project_id=project_id, bot_id=bot_id
    )
    bot_level = [s for s in candidates if s.bot_id is not None]
    return [s for s in (bot_level or candidates) if s.is_active and trigger in (s.triggers or [])]


def fire(
    tx: Tx, *, bot_id: str, trigger: str, data: dict[str, Any], bot: BotRef | None = None
) -> list[str]:
    """Write an attempt row per subscription for ``trigger`` and queue them after commit.

    Returns the idempotency keys. Raises ``DataDeleted`` for a content trigger of a bot whose data
    was deleted (call it in the same transaction as the capture write it reports).
    """
    conn = tx.conn
    content = trigger in CONTENT_TRIGGERS
    # Content payloads are sealed under the bot's key, taken behind the fence (which refuses a
    # bot whose data was deleted). State changes are kept (scrubbed) after a deletion, so they
    # are stored plain, unless their event metadata goes beyond the allow-list (it may name a
    # participant): then sealed too, and delete_data rewrites them plain and scrubbed before it
    # destroys the key.
    data_key = sealing_key(tx, bot_id) if content else None
    if bot is None:
        row = bots.project_and_metadata(conn, bot_id=bot_id)
        if row is None:
            raise DataDeleted(f"bot {bot_id} does not exist; webhook not fired")
        bot = BotRef(row.project_id, row.metadata)
    targets = subscriptions_for(conn, project_id=bot.project_id, bot_id=bot_id, trigger=trigger)
    if not targets:
        return []
    if (
        not content
        and trigger == Trigger.STATE_CHANGE
        and split_event_metadata(data.get("event_metadata"))[1]
    ):
        try:
            data_key = sealing_key(tx, bot_id)
        except DataDeleted:  # nothing private can be kept for it any more
            data = {**data, "event_metadata": safe_event_metadata(data.get("event_metadata"))}
    now = utcnow()
    keys = []
    rows = []
    for subscription in targets:
        key = str(uuid.uuid4())
        keys.append(key)
        envelope = build_envelope(
            idempotency_key=key,
            bot_id=bot_id,
            bot_metadata=bot.metadata,
            trigger=trigger,
            data=data,
        )
        rows.append(
            {
                "id": key,
                "subscription_id": subscription.id,
                "bot_id": bot_id,
                "trigger": trigger,
                "payload": (
                    envelope if data_key is None else data_key.seal_json(envelope, WEBHOOK_PAYLOAD)
                ),
                "status": "pending",
                "attempt_count": 0,
                "attempts": [],
                "next_attempt_at": now,
                "succeeded_at": None,
                "created_at": now,
            }
        )
    webhook_deliveries.add_attempts(conn, rows)
    queue = tx.queue
    if queue is None:
        log.warning("no queue bound for this database; %d deliveries wait for the sweep", len(keys))
    else:
        tx.after_commit(lambda: enqueue_all(queue, keys))
    return keys


def enqueue_all(queue: TaskQueue, keys: list[str], *, delay: float | None = None) -> None:
    for key in keys:
        queue.enqueue(DELIVER_TASK, key, delay=delay)


def on_bot_event(tx: Tx, event: RecordedEvent) -> None:
    """Bot-event listener (attached by bootstrap): every state change fires ``bot.state_change``."""
    fire(
        tx,
        bot_id=event.bot_id,
        bot=BotRef(event.project_id, event.bot_metadata),
        trigger=Trigger.STATE_CHANGE,
        data=state_change_data(
            event_type=event.event_type,
            event_sub_type=event.sub_type,
            event_metadata=event.metadata,
            old_state=event.old_state,
            new_state=event.new_state,
            created_at=event.created_at,
        ),
    )
