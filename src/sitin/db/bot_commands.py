"""Commands left for a running bot (``bot_commands``): the API adds them, the bot's runner takes
them (it polls, and is woken after the commit that added one)."""

from sqlalchemy import Connection, bindparam, insert, select, update

from sitin.core.commands import BotCommand
from sitin.core.timefmt import utcnow
from sitin.db.tables import bot_commands

_PENDING = (
    select(bot_commands.c.id, bot_commands.c.command)
    .where(bot_commands.c.bot_id == bindparam("bot_id"), bot_commands.c.consumed_at.is_(None))
    .order_by(bot_commands.c.id)
)
_ANY_PENDING = _PENDING.limit(1)


def add(conn: Connection, *, bot_id: str, command: BotCommand) -> None:
    conn.execute(
        insert(bot_commands).values(bot_id=bot_id, command=command.value, created_at=utcnow())
    )


def any_pending(conn: Connection, *, bot_id: str) -> bool:
    return conn.execute(_ANY_PENDING, {"bot_id": bot_id}).first() is not None


def take_pending(conn: Connection, *, bot_id: str) -> list[str]:
    """The bot's unconsumed commands, oldest first, marked consumed (a write transaction)."""
    rows = conn.execute(_PENDING, {"bot_id": bot_id}).all()
    if rows:
        conn.execute(
            update(bot_commands)
            .where(bot_commands.c.id.in_([row.id for row in rows]))
            .values(consumed_at=utcnow())
        )
    return [row.command for row in rows]
