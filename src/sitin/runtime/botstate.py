"""The running bot's side of the database: its row, events, heartbeat, commands, chat and
output requests, and its project's provider accounts.

Plain blocking functions; the runner calls them through ``asyncio.to_thread``.
"""

from typing import Any

from sitin.context import AppContext
from sitin.core.states import BotState, EventSubType, EventType, TransitionNotAllowed
from sitin.core.timefmt import utcnow
from sitin.core.triggers import Trigger
from sitin.db import bot_commands, capture, credentials, meeting_data
from sitin.db import bots as bot_rows
from sitin.db.bot_events import StateChanged, record_event
from sitin.webhooks import envelope
from sitin.webhooks.dispatch import fire


def record(
    ctx: AppContext,
    bot_id: str,
    event: EventType,
    sub_type: EventSubType | None = None,
    metadata: dict[str, Any] | None = None,
) -> BotState | None:
    """Record an event; None when the bot has moved on (e.g. the reaper already failed it)."""
    try:
        with ctx.db.write() as tx:
            return record_event(
                tx, bot_id=bot_id, event=event, sub_type=sub_type, metadata=metadata
            ).new_state
    except (TransitionNotAllowed, StateChanged):
        return None


def log(ctx: AppContext, bot_id: str, *, level: str, entry_type: str, message: str) -> None:
    """A bot log entry (operational facts only, never meeting content) and its webhook."""
    try:
        with ctx.db.write() as tx:
            entry_id = capture.add_log_entry(
                tx, bot_id=bot_id, level=level, entry_type=entry_type, message=message
            )
            data = envelope.bot_log_data(
                id=entry_id,
                level=level,
                entry_type=entry_type,
                message=message,
                created_at=utcnow(),
            )
            fire(tx, bot_id=bot_id, trigger=Trigger.BOT_LOGS_UPDATE, data=data)
    except capture.DataDeleted:
        pass


def current_state(ctx: AppContext, bot_id: str) -> BotState | None:
    with ctx.db.read() as conn:
        return bot_rows.current_state(conn, bot_id=bot_id)


def heartbeat(ctx: AppContext, bot_id: str) -> BotState | None:
    """Mark the bot alive; returns its current state (so the runner notices outside changes)."""
    with ctx.db.write() as tx:
        return bot_rows.record_heartbeat(tx.conn, bot_id=bot_id)


def take_commands(ctx: AppContext, bot_id: str) -> list[str]:
    """Unconsumed commands for the bot, oldest first, marked consumed (a read first, so the
    common case of no command costs no write transaction)."""
    with ctx.db.read() as conn:
        if not bot_commands.any_pending(conn, bot_id=bot_id):
            return []
    with ctx.db.write() as tx:
        return bot_commands.take_pending(tx.conn, bot_id=bot_id)


def pending_chat_requests(ctx: AppContext, bot_id: str) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        return meeting_data.pending_chat_message_requests(
            conn, bot_id=bot_id, key=ctx.keys.key_for_reading(bot_id)
        )


def mark_chat_request(ctx: AppContext, bot_id: str, request_id: int, failure: str | None) -> None:
    """A chat request sent (failure None) or failed; nothing once the bot's data is deleted."""
    try:
        with ctx.db.write() as tx:
            capture.mark_chat_message_request(
                tx, bot_id=bot_id, request_id=request_id, sent=failure is None, failure=failure
            )
    except capture.DataDeleted:
        pass


def load_bot(ctx: AppContext, bot_id: str) -> dict[str, Any] | None:
    with ctx.db.read() as conn:
        return bot_rows.get_any(conn, bot_id=bot_id)


def take_output_requests(ctx: AppContext, bot_id: str) -> list[dict[str, Any]]:
    """Queued output (audio files, speech text), opened and removed in one transaction.
    Raises DataDeleted once the bot's data is deleted."""
    with ctx.db.write() as tx:
        return capture.take_output_requests(tx, bot_id=bot_id)


def provider_accounts(ctx: AppContext, project_id: str) -> dict[str, credentials.ProviderAccount]:
    with ctx.db.read() as conn:
        return credentials.accounts_for(
            conn, server_key=ctx.settings.resolved_secret_key, project_id=project_id
        )
