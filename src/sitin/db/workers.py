"""Worker rows and their claims on bots: registration and heartbeats, placing a bot on the live
worker with the most room (a claim for itself or for another), the claims a worker has yet to
start, releasing one, the loads an operator sees, and removing workers whose heartbeats stopped."""

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
    CLAIMED = "claimed"  # placed on this worker: it runs the bot now
    ASSIGNED = "assigned"  # placed on another live worker with more room: that one starts it
    ALREADY = "already"  # this worker holds it already (a task run twice)
    TAKEN = "taken"  # another live worker holds it
    GONE = "gone"  # the bot is no longer waiting to join (left, failed, deleted)
    FULL = "full"  # no live worker has room for it


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


def place(
    conn: Connection, *, worker_id: str, bot_id: str, cost: float, live_since: datetime
) -> tuple[Claim, list[WorkerLoad]]:
    """Place ``bot_id`` (costing ``cost``) on the live worker with the most free room that fits
    it, ``worker_id`` itself on a tie, by writing that worker's claim (a write transaction).
    Workers heard from since ``live_since`` count as live. Every worker row is locked first, so
    placements made at once by several workers never fill one worker beyond its capacity.
    Returns the outcome and the live loads.

    Placing by the deciding worker, rather than passing the bot on through the queue until the
    right worker happens to take it, matters: a full worker's task threads, just back from
    work, poll sooner than an idle worker's and won that race every time."""
    state = conn.execute(select(bots.c.state).where(bots.c.id == bot_id)).scalar()
    if state not in CLAIMABLE:
        return Claim.GONE, []
    conn.execute(select(workers.c.id).order_by(workers.c.id).with_for_update()).all()
    live = loads(conn, heard_since=live_since)
    holder = conn.execute(
        select(worker_claims.c.worker_id).where(worker_claims.c.bot_id == bot_id)
    ).scalar()
    if holder == worker_id:
        return Claim.ALREADY, live
    if holder is not None and any(worker.id == holder for worker in live):
        return Claim.TAKEN, live
    fitting = [worker for worker in live if worker.free + _EPSILON >= cost]
    if not fitting:
        return Claim.FULL, live
    target = max(fitting, key=lambda worker: (worker.free, worker.id == worker_id))
    if holder is not None:  # the claim of a worker presumed dead
        conn.execute(delete(worker_claims).where(worker_claims.c.bot_id == bot_id))
    conn.execute(
        insert(worker_claims).values(
            bot_id=bot_id, worker_id=target.id, cost=cost, claimed_at=utcnow()
        )
    )
    return (Claim.CLAIMED if target.id == worker_id else Claim.ASSIGNED), live


def claims_to_start(conn: Connection, *, worker_id: str) -> list[str]:
    """Bots placed on ``worker_id`` that still wait to join: the ones it may not run yet."""
    query = (
        select(worker_claims.c.bot_id)
        .join(bots, bots.c.id == worker_claims.c.bot_id)
        .where(worker_claims.c.worker_id == worker_id, bots.c.state.in_(CLAIMABLE))
        .order_by(worker_claims.c.claimed_at)
    )
    return list(conn.execute(query).scalars())


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
