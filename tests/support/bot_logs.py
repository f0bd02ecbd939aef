"""A bot's log entries as an operator reads them: messages are sealed under the bot's data key at
rest (``db.sealing.LOG_MESSAGE``), so tests open them the way the service does."""

from typing import NamedTuple

from sqlalchemy import select

from sitin.context import AppContext
from sitin.db import sealing
from sitin.db.tables import bot_log_entries


class LogEntry(NamedTuple):
    level: str
    entry_type: str
    message: str


def bot_logs(ctx: AppContext, bot_id: str, *, level: str | None = None) -> list[LogEntry]:
    query = (
        select(bot_log_entries.c.level, bot_log_entries.c.entry_type, bot_log_entries.c.message)
        .where(bot_log_entries.c.bot_id == bot_id)
        .order_by(bot_log_entries.c.created_at, bot_log_entries.c.id)
    )
    if level is not None:
        query = query.where(bot_log_entries.c.level == level)
    with ctx.db.read() as conn:
        rows = conn.execute(query).all()
    # the key after the rows: a row read was sealed under a key that existed before it
    opener = sealing.Opener(bot_id, ctx.keys.key_for_reading(bot_id))
    return [
        LogEntry(row.level, row.entry_type, opener.text(row.message, sealing.LOG_MESSAGE) or "")
        for row in rows
    ]


def log_messages(ctx: AppContext, bot_id: str, *, level: str | None = None) -> list[str]:
    return [entry.message for entry in bot_logs(ctx, bot_id, level=level)]
