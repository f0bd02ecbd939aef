"""delete_data latency against a lower bound on the same data (issue 3, "Performance").

    .venv/bin/python benchmarks/delete_data.py                      # SQLite + local blobs
    .venv/bin/python benchmarks/delete_data.py --postgres postgresql+psycopg://sitin:sitin@127.0.0.1/sitin
    .venv/bin/python benchmarks/delete_data.py --sizes 1000,10000 --repeat 3

For each size N (utterances) two identical ended bots are built with bulk inserts: N utterances,
N/50 participants, N/10 participant events, N/10 chat messages, N/10 audio segments, N/100 log
entries, and N/10 small blobs in the local blob store. One is deleted through
``POST /api/v1/bots/{id}/delete_data`` on a real ``sitin serve`` (timed from the client); the other
by the lower bound: the raw ``DELETE ... WHERE bot_id = ?`` of every captured table in one
transaction, then ``shutil.rmtree`` of the bot's blob folder. Target (issue 10): endpoint <= 1.5 x
the lower bound + one GET-bot time ("target ms", "met") at every size; the endpoint also destroys
the bot's data key, the bound does not. "ratio" is endpoint / bound (medians); "(end-GET)/lb" is
(endpoint - GET bot) / bound, the figure the target bounds by 1.5: the median over the rounds of
each round's endpoint, less the median GET, over that round's bound (the machine's speed drifts
between rounds more than the endpoint differs from the bound). Growth linear in N
("us/item": endpoint time per row + blob). "GET bot ms" is a GET of the same bot on the same
server, the HTTP + auth + rendering floor that the lower bound does not pay; "extra ms" is the
endpoint's time over the bound, which should stay flat as N grows. With ``--postgres URL`` a
scratch database is created on that server (and dropped afterwards) and the same table is
printed for PostgreSQL.

The timed requests go over a warm kept-alive stdlib ``http.client`` connection, so the figure is
the server's latency rather than a Python HTTP client's own overhead (httpx adds ~0.7 ms per
request on this machine). Before each timed pair SQLite's WAL is checkpointed, so neither side
pays for checkpointing the bulk inserts; the two sides alternate order between rounds, and what
delete_data does after answering (its WAL checkpoints) is waited for before anything else is
timed, so it neither slows nor flatters the other side.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa
from api_throughput import free_port, start_server
from sqlalchemy import delete, insert, select, update

from sitin.bootstrap import build_context
from sitin.config import Settings
from sitin.context import AppContext
from sitin.core.states import EventSubType, EventType
from sitin.core.timefmt import utcnow
from sitin.db.bot_events import record_event
from sitin.db.capture import blob_prefix
from sitin.db.tables import (
    CAPTURED_TABLES,
    audio_segments,
    bot_log_entries,
    chat_messages,
    participant_events,
    participants,
    recordings,
    utterances,
    webhook_delivery_attempts,
)

CAPTURED = (*CAPTURED_TABLES, webhook_delivery_attempts)
LIFE = (
    (EventType.JOINED_MEETING, None),
    (EventType.RECORDING_PERMISSION_GRANTED, None),
    (EventType.LEAVE_REQUESTED, EventSubType.USER_REQUESTED),
    (EventType.LEFT_MEETING, None),
    (EventType.POST_PROCESSING_COMPLETED, None),
)
BLOB = b"\0" * 512
INSERT_CHUNK = 5000


@dataclass
class Figures:
    size: int
    rows: int
    blobs: int
    endpoint_s: float
    lower_s: float
    http_floor_s: float  # GET of the same bot on the same server: HTTP + auth + rendering
    # (endpoint - median GET) / bound of each round: the machine's speed drifts between rounds,
    # so a round's endpoint is compared with its own bound
    round_ratios: list[float]

    @property
    def ratio(self) -> float:
        return self.endpoint_s / self.lower_s

    @property
    def target_ratio(self) -> float:
        """What issue 10 bounds by 1.5: the endpoint less one GET-bot request, over the bound
        (the median over the rounds)."""
        return statistics.median(self.round_ratios)

    @property
    def target_s(self) -> float:
        """The target: 1.5 x the lower bound plus one GET-bot request (issue 10)."""
        return 1.5 * self.lower_s + self.http_floor_s


# --- building the data --------------------------------------------------------------------------


def new_ended_bot(api: httpx.Client, ctx: AppContext) -> str:
    own_room = f"{str(api.base_url).rstrip('/')}/rooms/bench"  # the server's own rooms
    body = {"meeting_url": own_room, "bot_name": "Bench"}
    response = api.post("/api/v1/bots", json=body)
    if response.status_code != 201:
        raise RuntimeError(f"creating a bot answered {response.status_code}: {response.text}")
    bot_id = response.json()["id"]
    for event, sub_type in LIFE[:2]:
        with ctx.db.write() as tx:
            record_event(tx, bot_id=bot_id, event=event, sub_type=sub_type)
    return bot_id


def finish_meeting(ctx: AppContext, bot_id: str) -> None:
    for event, sub_type in LIFE[2:]:
        with ctx.db.write() as tx:
            record_event(tx, bot_id=bot_id, event=event, sub_type=sub_type)
    # The bot's run task, queued when it was created, went to the worker that ran the meeting;
    # no worker runs here, so take it out as one would (an ended bot has nothing queued).
    ctx.queue.discard(ctx.queue.waiting(mentioning=[bot_id]))


def bulk(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    for start in range(0, len(rows), INSERT_CHUNK):
        conn.execute(insert(table), rows[start : start + INSERT_CHUNK])


def fill(ctx: AppContext, bot_id: str, n: int) -> tuple[int, int]:
    """Captured rows and blobs for one bot with ``n`` utterances; returns (rows, blobs)."""
    now = utcnow()
    people = max(n // 50, 2)
    n_tenth = max(n // 10, 1)
    with ctx.db.write() as tx:
        conn = tx.conn
        recording_id = conn.execute(
            select(recordings.c.id).where(recordings.c.bot_id == bot_id)
        ).scalar_one()
        pids = [f"par_{bot_id[4:]}{i:07d}"[:32] for i in range(people)]
        bulk(
            conn,
            participants,
            [
                {
                    "id": pid,
                    "bot_id": bot_id,
                    "uuid": f"u{i}",
                    "name": f"Person {i}",
                    "is_host": i == 0,
                    "created_at": now,
                }
                for i, pid in enumerate(pids)
            ],
        )
        bulk(
            conn,
            participant_events,
            [
                {
                    "id": f"pe_{bot_id[4:]}{i:08d}"[:32],
                    "bot_id": bot_id,
                    "participant_id": pids[i % people],
                    "event_type": "join",
                    "event_data": {},
                    "timestamp_ms": i,
                    "created_at": now,
                }
                for i in range(n_tenth)
            ],
        )
        bulk(
            conn,
            chat_messages,
            [
                {
                    "id": f"msg_{bot_id[4:]}{i:08d}"[:32],
                    "bot_id": bot_id,
                    "participant_id": pids[i % people],
                    "text": f"chat line {i}",
                    "timestamp": i,
                    "timestamp_ms": i * 1000,
                    "to": "everyone",
                    "additional_data": {},
                    "created_at": now,
                }
                for i in range(n_tenth)
            ],
        )
        bulk(
            conn,
            utterances,
            [
                {
                    "bot_id": bot_id,
                    "recording_id": recording_id,
                    "participant_id": pids[i % people],
                    "source": "realtime",
                    "timestamp_ms": i * 1000,
                    "duration_ms": 900,
                    "transcription": {"transcript": f"sentence number {i} of the meeting"},
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(n)
            ],
        )
        prefix = blob_prefix(bot_id)
        bulk(
            conn,
            audio_segments,
            [
                {
                    "bot_id": bot_id,
                    "recording_id": recording_id,
                    "participant_id": pids[i % people],
                    "blob_key": f"{prefix}audio/{i:06d}.pcm",
                    "blob_size": len(BLOB),
                    "sample_rate": 16000,
                    "timestamp_ms": i * 1000,
                    "duration_ms": 900,
                    "created_at": now,
                }
                for i in range(n_tenth)
            ],
        )
        bulk(
            conn,
            bot_log_entries,
            [
                {
                    "id": f"log_{bot_id[4:]}{i:08d}"[:32],
                    "bot_id": bot_id,
                    "level": "info",
                    "entry_type": "note",
                    "message": f"log line {i}",
                    "created_at": now,
                }
                for i in range(max(n // 100, 1))
            ],
        )
    ctx.keys.key_for_writing(bot_id)  # as a real meeting: the bot has a data key to destroy
    root = ctx.blobs.backend.root / blob_prefix(bot_id) / "audio"
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n_tenth):
        (root / f"{i:06d}.pcm").write_bytes(BLOB)
    rows = people + 3 * n_tenth + n + max(n // 100, 1)
    return rows, n_tenth


# --- the two measurements -----------------------------------------------------------------------


# Built once, as the endpoint's are, so the bound does not pay for building statements.
LOWER_BOUND_SQL = (
    *(delete(table).where(table.c.bot_id == sa.bindparam("bot_id")) for table in CAPTURED),
    update(recordings).where(recordings.c.bot_id == sa.bindparam("owner")).values(blob_key=None),
)


def lower_bound(ctx: AppContext, bot_id: str) -> float:
    started = time.perf_counter()
    with ctx.db.write() as tx:
        for statement in LOWER_BOUND_SQL:
            tx.conn.execute(statement, {"bot_id": bot_id, "owner": bot_id})
    shutil.rmtree(ctx.blobs.backend.root / blob_prefix(bot_id))
    return time.perf_counter() - started


class TimedClient:
    """Stdlib HTTP/1.1 on a warm kept-alive connection: times the server, not a client
    library."""

    def __init__(self, base_url: str, key: str):
        host, port = base_url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=600)
        self.headers = {"Authorization": f"Token {key}"}

    def timed(self, method: str, path: str) -> tuple[float, int, dict]:
        # Untimed: reconnect (the server closes connections left idle while large data is
        # built) and send one request, so the timed one meets a warm connection as clients do.
        self.connection.close()
        self.connection.request("GET", "/api/v1/bots/bot_warmup", headers=self.headers)
        self.connection.getresponse().read()
        started = time.perf_counter()
        self.connection.request(method, path, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        return elapsed, response.status, json.loads(body)

    def close(self) -> None:
        self.connection.close()


def endpoint(client: TimedClient, bot_id: str) -> float:
    elapsed, status, body = client.timed("POST", f"/api/v1/bots/{bot_id}/delete_data")
    if status != 200 or body.get("state") != "data_deleted":
        raise RuntimeError(f"delete_data answered {status}: {body}")
    return elapsed


def settle(ctx: AppContext) -> None:
    """Checkpoint SQLite's WAL so the next commit of either side does not pay for the inserts."""
    if ctx.db.is_sqlite:
        raw = ctx.db.read_engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()


def rounds(n: int, repeat: int) -> int:
    if n >= 100_000:
        return 1  # slow to build; large enough that noise does not matter
    return repeat * 5 if n <= 1000 else repeat  # small sizes: milliseconds, noisy machine


def settled(ctx: AppContext) -> None:
    """Wait for what delete_data does after answering (the key store's WAL checkpoint, then the
    database's), so the next timed request does not run beside it."""
    wals = [Path(str(sa.engine.make_url(ctx.keys.url).database) + "-wal")]
    if ctx.db.is_sqlite:
        wals.append(Path(str(ctx.db.write_engine.url.database) + "-wal"))
    deadline = time.monotonic() + 30
    while any(wal.exists() and wal.stat().st_size > 0 for wal in wals):
        if time.monotonic() > deadline:
            raise RuntimeError("the deletion's checkpoints did not finish")
        time.sleep(0.001)


def measure(
    ctx: AppContext, api: httpx.Client, client: TimedClient, n: int, repeat: int
) -> Figures:
    endpoint_times, lower_times, floor_times = [], [], []
    for round_ in range(rounds(n, repeat)):
        via_api, via_sql = new_ended_bot(api, ctx), new_ended_bot(api, ctx)
        rows, blobs = fill(ctx, via_api, n)
        fill(ctx, via_sql, n)
        finish_meeting(ctx, via_api)
        finish_meeting(ctx, via_sql)
        settle(ctx)
        # the floor first, on a quiet server: after a deletion it would meet its checkpoints
        elapsed, status, _ = client.timed("GET", f"/api/v1/bots/{via_api}")
        assert status == 200
        floor_times.append(elapsed)
        if round_ % 2 == 0:  # alternate the order so neither side always meets a warmer cache
            lower_times.append(lower_bound(ctx, via_sql))
            endpoint_times.append(endpoint(client, via_api))
            settled(ctx)
        else:
            endpoint_times.append(endpoint(client, via_api))
            settled(ctx)
            lower_times.append(lower_bound(ctx, via_sql))
        assert not (ctx.blobs.backend.root / blob_prefix(via_api)).exists()
    floor = statistics.median(floor_times)  # a GET that met a hiccup must not flatter a round
    return Figures(
        n,
        rows,
        blobs,
        statistics.median(endpoint_times),
        statistics.median(lower_times),
        floor,
        [(e - floor) / lb for e, lb in zip(endpoint_times, lower_times, strict=True)],
    )


# --- running it ---------------------------------------------------------------------------------


@contextmanager
def serving(data_dir: Path, database_url: str | None, log: Path) -> Iterator[tuple[str, str]]:
    """``sitin serve`` (one API process, no worker) on a fresh data directory, in a process of
    its own as a client would meet it (in this process, its work after answering would hold the
    GIL the timing client needs to read the answer); yields its URL and first-start API key."""
    port = free_port()
    process, key = start_server(data_dir, port, log, database_url, ["--api-workers", "1"])
    try:
        yield f"http://127.0.0.1:{port}", key
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@contextmanager
def scratch_postgres(url: str) -> Iterator[str]:
    admin_url = sa.engine.make_url(url)
    name = f"sitin_bench_{int(time.time())}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_backend(
    label: str, data_dir: Path, database_url: str | None, sizes: list[int], repeat: int
) -> list[Figures]:
    results = []
    with serving(data_dir, database_url, data_dir.parent / f"{label}-serve.log") as (url, key):
        # the server's data directory and database, and its generated secret (the master key)
        ctx = build_context(Settings(data_dir=data_dir, database_url=database_url))
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Token {key}"}, timeout=600
        ) as api:
            client = TimedClient(url, key)
            for n in sizes:
                figures = measure(ctx, api, client, n, repeat)
                print(f"  {label}: {n} utterances measured", flush=True)
                results.append(figures)
            client.close()
        ctx.close()
    return results


def print_table(label: str, results: list[Figures]) -> None:
    print(f"\n{label}")
    print(
        f"{'utterances':>10} {'rows':>8} {'blobs':>6} {'endpoint ms':>12} "
        f"{'lower bound ms':>15} {'ratio':>6} {'extra ms':>9} {'us/item':>8} {'GET bot ms':>11} "
        f"{'target ms':>10} {'(end-GET)/lb':>13} {'met':>4}"
    )
    for f in results:
        per_item = f.endpoint_s / (f.rows + f.blobs) * 1e6
        print(
            f"{f.size:>10} {f.rows:>8} {f.blobs:>6} {f.endpoint_s * 1e3:>12.1f} "
            f"{f.lower_s * 1e3:>15.1f} {f.ratio:>6.2f} {(f.endpoint_s - f.lower_s) * 1e3:>9.1f} "
            f"{per_item:>8.1f} "
            f"{f.http_floor_s * 1e3:>11.1f} {f.target_s * 1e3:>10.1f} {f.target_ratio:>13.2f} "
            f"{'yes' if f.target_ratio <= 1.5 else 'NO':>4}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="utterances per bot")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds per size (median); 5x as many at 1k and below, 1 at 100k",
    )
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL server")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    tables = []
    with tempfile.TemporaryDirectory(prefix="sitin-bench-") as tmp:
        tables.append(
            (
                "SQLite + local blobs",
                run_backend("sqlite", Path(tmp) / "s", None, sizes, args.repeat),
            )
        )
        if args.postgres:
            with scratch_postgres(args.postgres) as url:
                tables.append(
                    (
                        "PostgreSQL + local blobs",
                        run_backend("postgres", Path(tmp) / "p", url, sizes, args.repeat),
                    )
                )
    for label, results in tables:
        print_table(label, results)
    print(f"\nload average (1, 5, 15 min) at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
