"""Placement in the database, on both databases: a bot goes to the live worker with the most
room for its cost (the deciding worker itself on a tie; never a silent one), never beyond a
worker's capacity, never to a second worker while a live one holds it, and not at all once it
no longer waits to join; the worker it was placed on finds it among its claims to start;
releasing frees the room; a worker whose heartbeats stopped is removed with its claims."""

from datetime import timedelta

from sitin.core.capacity import bot_cost, default_capacity
from sitin.core.timefmt import utcnow
from sitin.db import workers
from sitin.db.tables import bots
from sitin.db.tables import workers as workers_table
from sitin.db.workers import Claim
from sitin.services import bots as bot_service
from support.projects import create_project
from support.settings import ROOM_URL

RECORD_ONLY = {"transcription_settings": {"none": {}}}


def _bots(ctx, count: int, **fields) -> list[str]:
    project = create_project(ctx, f"p{count}-{len(fields)}")
    ids = []
    for _ in range(count):
        body = {"meeting_url": ROOM_URL, "bot_name": "Notes", **RECORD_ONLY, **fields}
        spec = bot_service.validate_new_bot(ctx, body)
        with ctx.db.write() as tx:
            ids.append(bot_service.create_bot(ctx, tx, project_id=project.id, spec=spec).row["id"])
    return ids


def _worker(ctx, worker_id: str, capacity: float) -> str:
    with ctx.db.write() as tx:
        workers.register(tx.conn, worker_id=worker_id, name=worker_id, capacity=capacity)
    return worker_id


def _claim(ctx, worker_id: str, bot_id: str, *, cost: float = 1.0) -> Claim:
    live_since = utcnow() - timedelta(seconds=15)
    with ctx.db.write() as tx:
        outcome, _live = workers.place(
            tx.conn, worker_id=worker_id, bot_id=bot_id, cost=cost, live_since=live_since
        )
    return outcome


def _to_start(ctx, worker_id: str) -> list[str]:
    with ctx.db.read() as conn:
        return workers.claims_to_start(conn, worker_id=worker_id)


def _loads(ctx) -> dict[str, tuple[float, int]]:
    with ctx.db.read() as conn:
        return {w.id: (w.load, w.bots) for w in workers.loads(conn)}


def test_a_worker_claims_only_with_headroom_and_releasing_frees_it(ctx):
    a, b, c = _bots(ctx, 3)
    _worker(ctx, "wkr_a", capacity=2)
    assert _claim(ctx, "wkr_a", a) == Claim.CLAIMED
    assert _claim(ctx, "wkr_a", a) == Claim.ALREADY  # a task run twice
    assert _claim(ctx, "wkr_a", b) == Claim.CLAIMED
    assert _claim(ctx, "wkr_a", c) == Claim.FULL
    assert _loads(ctx) == {"wkr_a": (2.0, 2)}
    with ctx.db.write() as tx:
        workers.release(tx.conn, worker_id="wkr_a", bot_id=a)
    assert _claim(ctx, "wkr_a", c) == Claim.CLAIMED
    assert _claim(ctx, "wkr_a", a, cost=1.5) == Claim.FULL  # 2 in use of 2: no room for 1.5


def test_bots_go_to_the_worker_with_most_room_and_run_on_one_worker_only(ctx):
    a, b, c, d, e, f = _bots(ctx, 6)
    _worker(ctx, "wkr_a", capacity=4)
    _worker(ctx, "wkr_b", capacity=4)
    assert _claim(ctx, "wkr_a", a) == Claim.CLAIMED  # a tie: the deciding worker takes it
    assert _claim(ctx, "wkr_a", b) == Claim.ASSIGNED  # b has 4 free, a only 3
    assert _to_start(ctx, "wkr_b") == [b] and _to_start(ctx, "wkr_a") == [a]
    assert _claim(ctx, "wkr_b", a) == Claim.TAKEN
    assert _claim(ctx, "wkr_a", b) == Claim.TAKEN
    assert _claim(ctx, "wkr_b", b) == Claim.ALREADY
    assert _claim(ctx, "wkr_b", c) == Claim.CLAIMED
    assert _loads(ctx) == {"wkr_a": (1.0, 1), "wkr_b": (2.0, 2)}
    # a full worker places the bot on the one with room instead of waiting for it to come by
    assert _claim(ctx, "wkr_b", d, cost=3.0) == Claim.ASSIGNED
    assert _claim(ctx, "wkr_a", e, cost=2.0) == Claim.ASSIGNED
    assert _loads(ctx) == {"wkr_a": (4.0, 2), "wkr_b": (4.0, 3)}
    assert _claim(ctx, "wkr_a", f) == Claim.FULL


def test_a_started_or_finished_bot_is_not_among_the_claims_to_start(ctx):
    a, b = _bots(ctx, 2)
    _worker(ctx, "wkr_a", capacity=4)
    assert _claim(ctx, "wkr_a", a) == Claim.CLAIMED
    assert _claim(ctx, "wkr_a", b) == Claim.CLAIMED
    with ctx.db.write() as tx:
        tx.conn.execute(bots.update().where(bots.c.id == a).values(state="joined_recording"))
    assert _to_start(ctx, "wkr_a") == [b]


def test_silent_workers_get_no_deference_and_are_removed_with_their_claims(ctx):
    a, b = _bots(ctx, 2)
    _worker(ctx, "wkr_dead", capacity=10)
    _worker(ctx, "wkr_live", capacity=2)
    assert _claim(ctx, "wkr_dead", a) == Claim.CLAIMED
    with ctx.db.write() as tx:  # its heartbeats stopped a minute ago
        tx.conn.execute(
            workers_table.update()
            .where(workers_table.c.id == "wkr_dead")
            .values(heartbeat_at=utcnow() - timedelta(minutes=1))
        )
    assert _claim(ctx, "wkr_live", b) == Claim.CLAIMED  # not placed on the silent one
    assert _claim(ctx, "wkr_live", a) == Claim.CLAIMED  # a dead worker's claim is no claim
    with ctx.db.write() as tx:
        gone = workers.remove_silent(tx.conn, heard_before=utcnow() - timedelta(seconds=30))
    assert gone == ["wkr_dead"]
    assert _loads(ctx) == {"wkr_live": (2.0, 2)}


def test_a_bot_no_longer_waiting_to_join_is_not_claimed(ctx):
    [bot_id] = _bots(ctx, 1)
    _worker(ctx, "wkr_a", capacity=2)
    with ctx.db.write() as tx:
        tx.conn.execute(bots.update().where(bots.c.id == bot_id).values(state="ended"))
    assert _claim(ctx, "wkr_a", bot_id) == Claim.GONE
    assert _claim(ctx, "wkr_a", "bot_doesnotexist") == Claim.GONE


def test_costs_follow_the_settings_and_capacity_the_cores():
    assert bot_cost(RECORD_ONLY) == 1.0
    offline = bot_cost({"transcription_settings": {"offline": {}}})
    hosted = bot_cost({"transcription_settings": {"openai": {"model": "whisper-1"}}})
    assert offline > hosted > 1.0
    assert bot_cost({}) == offline  # the default transcribes offline
    assert default_capacity(2, 2) == default_capacity(1, 1)
    assert default_capacity(2, 4) == default_capacity(1, 1) / 2
    assert default_capacity(8) == default_capacity(1)  # one process is one GIL: a worker per core


def test_a_core_takes_the_bots_it_was_measured_to_keep_up_with():
    # benchmarks/bot_density.py --pin --turn-taking (four participants taking turns, one core):
    # it kept up with 12 record-only bots and 3 transcribing offline, not with 16 or 4-5
    core = default_capacity(1)
    assert core // bot_cost(RECORD_ONLY) == 12
    assert core // bot_cost({"transcription_settings": {"offline": {}}}) == 3
    # plain `sitin serve` on 2 cores: a worker per core, 6 transcribing bots in all
    assert 2 * (default_capacity(2, 2) // bot_cost({})) == 6
