"""Worker rows and their claims on bots: registration and heartbeats, claiming a bot only with
headroom (and only when no other live worker has clearly more), releasing it, the loads an
operator sees, and removing workers whose heartbeats stopped."""

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from sqlalchemy import Connection, delete, func, insert, select, update

from sitin.core.states import BotState
from sitin.core.timefmt import as_utc, utcnow
from sitin.db.tables import bots, worker_claims, workers

# A bot is claimed to be run while it waits to join (not once it is in a meeting or over).
CLAIMABLE = (BotState.JOINING.value, BotState.STAGED.value)
_EPSILON = 1e-9


class Claim(Enum):
    CLAIMED = "claimed"  # this worker runs the bot now
    ALREADY = "already"  # this worker claimed it before (a task run twice)
    TAKEN = "taken"  # another live worker runs it
    GONE = "gone"  # the bot is no longer waiting to join (left, failed, deleted)
    FULL = "full"  # not enough headroom here
    ELSEWHERE = "elsewhere"  # fits here, but another live worker has clearly more room


@dataclass(frozen=True)
class WorkerLoad:
    id: str
    name: str
    capacity: float
    load: float
    bots: int
    started_at: datetime
    heartbeat_at: datetime

    @property
    def free(self) -> float:
        return self.capacity - self.load


def register(conn: Connection, *, worker_id: str, name: str, capacity: float) -> None:
    now = utcnow()
    conn.execute(
        insert(workers).values(
            id=worker_id, name=name, capacity=capacity, started_at=now, heartbeat_at=now
        )
    )


def heartbeat(conn: Connection, *, worker_id: str) -> bool:
    """Record that the worker is alive; False when its row is gone (it was presumed dead)."""
    result = conn.execute(
        update(workers).where(workers.c.id == worker_id).values(heartbeat_at=utcnow())
    )
    return result.rowcount == 1


def unregister(conn: Connection, *, worker_id: str) -> None:
    conn.execute(delete(worker_claims).where(worker_claims.c.worker_id == worker_id))
    conn.execute(delete(workers).where(workers.c.id == worker_id))


def loads(conn: Connection, *, heard_since: datetime | None = None) -> list[WorkerLoad]:
    """Every worker (only those heard from since ``heard_since`` when given) with its load."""
    claimed = (
        select(
            worker_claims.c.worker_id,
            func.sum(worker_claims.c.cost).label("load"),
            func.count().label("bots"),
        )
        .group_by(worker_claims.c.worker_id)
        .subquery()
    )
    query = (
        select(
            workers,
            func.coalesce(claimed.c.load, 0.0).label("load"),
            func.coalesce(claimed.c.bots, 0).label("bots"),
        )
        .select_from(workers.outerjoin(claimed, claimed.c.worker_id == workers.c.id))
        .order_by(workers.c.name, workers.c.id)
    )
    if heard_since is not None:
        query = query.where(workers.c.heartbeat_at >= heard_since)
    return [
        WorkerLoad(
            id=row.id,
            name=row.name,
            capacity=row.capacity,
            load=float(row.load),
            bots=int(row.bots),
            started_at=as_utc(row.started_at),
            heartbeat_at=as_utc(row.heartbeat_at),
        )
        for row in conn.execute(query)
    ]


def claim(
    conn: Connection,
    *,
    worker_id: str,
    bot_id: str,
    cost: float,
    live_since: datetime,
    defer_to_others: bool = True,
) -> tuple[Claim, list[WorkerLoad]]:
    """Claim ``bot_id`` for ``worker_id`` at ``cost`` if its load leaves room (a write
    transaction; the worker's row is locked, so its own threads claim one at a time). Workers
    heard from since ``live_since`` count as live; with ``defer_to_others`` a live worker with
    more free room than this one gets the bot instead. Returns the outcome and the live loads."""
    state = conn.execute(select(bots.c.state).where(bots.c.id == bot_id)).scalar()
    if state not in CLAIMABLE:
        return Claim.GONE, []
    conn.execute(select(workers.c.id).where(workers.c.id == worker_id).with_for_update())
    live = loads(conn, heard_since=live_since)
    holder = conn.execute(
        select(worker_claims.c.worker_id).where(worker_claims.c.bot_id == bot_id)
    ).scalar()
    if holder == worker_id:
        return Claim.ALREADY, live
    if holder is not None and any(worker.id == holder for worker in live):
        return Claim.TAKEN, live
    me = next((worker for worker in live if worker.id == worker_id), None)
    if me is None or me.free + _EPSILON < cost:
        return Claim.FULL, live
    roomier = [w for w in live if w.id != worker_id and w.free >= cost and w.free > me.free]
    if defer_to_others and roomier:
        return Claim.ELSEWHERE, live
    if holder is not None:  # the claim of a worker presumed dead
        conn.execute(delete(worker_claims).where(worker_claims.c.bot_id == bot_id))
    conn.execute(
        insert(worker_claims).values(
            bot_id=bot_id, worker_id=worker_id, cost=cost, claimed_at=utcnow()
        )
    )
    return Claim.CLAIMED, live


def release(conn: Connection, *, worker_id: str, bot_id: str) -> None:
    conn.execute(
        delete(worker_claims).where(
            worker_claims.c.bot_id == bot_id, worker_claims.c.worker_id == worker_id
        )
    )


def remove_silent(conn: Connection, *, heard_before: datetime) -> list[str]:
    """Remove workers not heard from since ``heard_before`` and their claims; their names."""
    gone = conn.execute(
        select(workers.c.id, workers.c.name).where(workers.c.heartbeat_at < heard_before)
    ).all()
    if gone:
        ids = [row.id for row in gone]
        conn.execute(delete(worker_claims).where(worker_claims.c.worker_id.in_(ids)))
        conn.execute(delete(workers).where(workers.c.id.in_(ids)))
    return [row.name for row in gone]
