"""API throughput under concurrency: GET one bot, a page of 25 bots, a transcript of 100 utterances,
each at 1 and at 32 connections side by side, on SQLite and (with --postgres) on PostgreSQL.

Starts `sitin serve --no-worker --api-workers 1` (one API process; `--api-workers N` for more)
on a free 127.0.0.1 port with a fresh data directory, loads 1,000 ended bots with 6 events each
(join_requested and 5 more) and one bot with 100 utterances straight into its database, then
drives it with `wrk` (random bot ids from a Lua script). Connection counts alternate per round
(c=1, c=32, c=1, c=32, ...) so load from other processes hits both alike; the figures are medians
over the rounds.

    .venv/bin/python benchmarks/api_throughput.py [--duration 5] [--rounds 3]
        [--postgres postgresql+psycopg://sitin:sitin@127.0.0.1:5432/sitin_bench]

Printed per backend and scenario: req/s and the server's CPU ms per request at c=1 and c=32, the
growth of CPU per request from c=1 to c=32, and the list/get throughput ratio at c=32. Targets
(issue 15, Attendee's figures at c=32 as the anchor: GET bot 131 req/s, page of 25 10.2, transcript
83): GET bot >= 2,000 req/s on SQLite and >= 10x Attendee on PostgreSQL; list/get >= 0.33;
transcript >= 10x Attendee; CPU per request grows <= 1.5x from c=1 to c=32.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from sitin.bootstrap import build_context
from sitin.config import Settings
from sitin.core.states import BotState, EventSubType, EventType
from sitin.db import bots, capture, projects
from sitin.db.bot_events import record_event
from sitin.db.migrate import upgrade

SITIN = Path(sys.executable).with_name("sitin")
BOT_COUNT = 1000
UTTERANCES = 100
ATTENDEE = {"get": 131.0, "list": 10.2, "transcript": 83.0}  # req/s at c=32 (issue 15)
ENDED = [
    (EventType.JOIN_REQUESTED, None),
    (EventType.JOINED_MEETING, None),
    (EventType.RECORDING_PERMISSION_GRANTED, None),
    (EventType.LEAVE_REQUESTED, EventSubType.USER_REQUESTED),
    (EventType.LEFT_MEETING, None),
    (EventType.POST_PROCESSING_COMPLETED, None),
]
SETTINGS = {
    "recording_settings": {"format": "mp3"},
    "transcription_settings": {"offline": {}},
    "automatic_leave_settings": {},
}

WRK_SCRIPT = """
local ids = {}
for line in io.lines("%(ids)s") do ids[#ids + 1] = line end
math.randomseed(os.time())
wrk.headers["Authorization"] = "Token %(key)s"
request = function()
  local path = "%(path)s"
  if path == "" then
    path = "/api/v1/bots/" .. ids[math.random(#ids)]
  end
  return wrk.format("GET", path)
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(
    process: subprocess.Popen, url: str, log: Path, *, timeout_s: float = 60
) -> None:
    """Return once the server at ``url`` answers /health; exit with its log if it dies or does
    not come up in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.2)  # also after a non-200 answer: poll, do not spin
    sys.exit("the server did not come up")


def start_server(
    data_dir: Path, port: int, log: Path, database_url: str | None, extra: list[str]
) -> tuple[subprocess.Popen, str]:
    """Start `sitin serve`; returns the process and the first-start API key it prints."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITIN_")}
    if database_url:
        env["SITIN_DATABASE_URL"] = database_url
    command = [str(SITIN), "serve", "--port", str(port), "--data-dir", str(data_dir)]
    with open(log, "w") as out:
        process = subprocess.Popen(
            [*command, "--no-worker", "--log-level", "warning", *extra],  # extra: --api-workers
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_until_healthy(process, f"http://127.0.0.1:{port}", log, timeout_s=120)
    key = re.search(r"Authorization: Token ([A-Za-z0-9]{32})", log.read_text()).group(1)
    return process, key


def load_data(data_dir: Path, database_url: str | None) -> tuple[list[str], str]:
    """1,000 ended bots in the default project and one with 100 utterances, through sitin.db."""
    overrides = {"database_url": database_url} if database_url else {}
    ctx = build_context(Settings(data_dir=data_dir, **overrides), migrate=False)
    ids = []
    with ctx.db.read() as conn:
        project_id = projects.get_by_name(conn, name=projects.DEFAULT_PROJECT)["id"]

    def new_bot(tx, index: int) -> str:
        bot_id = bots.insert_bot(
            tx.conn,
            project_id=project_id,
            name=f"Bench {index}",
            meeting_url=f"http://127.0.0.1:8000/rooms/bench{index % 50}",
            platform="room",
            state=BotState.READY,
            join_at=None,
            deduplication_key=None,
            metadata={"index": str(index)},
            settings=SETTINGS,
            data_retention_seconds=None,
        )
        for event, sub_type in ENDED[:3]:
            record_event(tx, bot_id=bot_id, event=event, sub_type=sub_type)
        return bot_id

    for start in range(0, BOT_COUNT, 100):
        with ctx.db.write() as tx:
            for index in range(start, start + 100):
                ids.append(new_bot(tx, index))
                for event, sub_type in ENDED[3:]:
                    record_event(tx, bot_id=ids[-1], event=event, sub_type=sub_type)
    with ctx.db.write() as tx:
        talker = new_bot(tx, BOT_COUNT)
        people = [
            capture.upsert_participant(
                tx, bot_id=talker, uuid=f"uuid-{i}", name=f"Speaker {i}", is_host=i == 0
            )
            for i in range(4)
        ]
        for i in range(UTTERANCES):
            words = " ".join(f"word{j}" for j in range(12))
            capture.add_utterance(
                tx,
                bot_id=talker,
                participant_id=people[i % 4],
                timestamp_ms=1_700_000_000_000 + i * 4000,
                duration_ms=3500,
                transcription={"transcript": f"utterance {i}: {words}", "words": None},
            )
        for event, sub_type in ENDED[3:]:
            record_event(tx, bot_id=talker, event=event, sub_type=sub_type)
    ctx.close()
    return ids, talker


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process and its descendants have used (Linux /proc)."""
    total = 0.0
    for task in [pid, *_descendants(pid)]:
        try:
            fields = Path(f"/proc/{task}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _descendants(pid: int) -> list[int]:
    try:
        children = [
            int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ]
    except OSError:
        return []
    return [found for child in children for found in (child, *_descendants(child))]


def run_wrk(url: str, script: Path, seconds: int, connections: int, pids) -> dict[str, float]:
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{round(seconds)}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    cpu_before = sum(cpu_seconds(pid) for pid in pids())
    finished = subprocess.run(command, capture_output=True, text=True)
    cpu_used = sum(cpu_seconds(pid) for pid in pids()) - cpu_before
    if finished.returncode != 0:
        sys.exit(f"wrk failed:\n{finished.stdout}{finished.stderr}")
    output = finished.stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        sys.exit(f"wrk saw {errors.group(1)} error responses:\n{output}")
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "cpu_ms": 1000 * cpu_used / max(requests, 1),
        "p50": _ms(re.search(r"\s50%\s+([\d.]+\w+)", output).group(1)),
        "p99": _ms(re.search(r"\s99%\s+([\d.]+\w+)", output).group(1)),
    }


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def postgres_backend_pids(url: str) -> list[int]:
    """The PostgreSQL backends serving the benchmark's database (their CPU is the server's too)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        name = conn.execute(sa.text("select current_database()")).scalar_one()
        pids = conn.execute(
            sa.text(
                "select pid from pg_stat_activity where datname = :n and pid <> pg_backend_pid()"
            ),
            {"n": name},
        ).scalars()
        found = list(pids)
    engine.dispose()
    return found


def fresh_postgres(url: str) -> str:
    """An empty database named in ``url`` (dropped and created), migrated."""
    parsed = sa.engine.make_url(url)
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    upgrade(url)
    return url


def measure(backend: str, database_url: str | None, args) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="sitin-bench-"))
    port = free_port()
    if database_url:
        fresh_postgres(database_url)
    serve_args = ["--api-workers", str(args.api_workers), *args.serve_args.split()]
    process, key = start_server(
        workdir / "data", port, workdir / "serve.log", database_url, serve_args
    )
    # The server and its API processes (with --api-workers N > 1): count all of them.
    pids = lambda: [process.pid, *(postgres_backend_pids(database_url) if database_url else [])]  # noqa: E731
    results: dict[str, dict[int, list[dict]]] = {}
    try:
        started = time.monotonic()
        ids, talker = load_data(workdir / "data", database_url)
        print(f"{backend}: loaded {len(ids) + 1} bots in {time.monotonic() - started:.1f} s")
        (workdir / "ids.txt").write_text("\n".join(ids) + "\n")
        scenarios = {
            "get": "",
            "list": "/api/v1/bots",
            "transcript": f"/api/v1/bots/{talker}/transcript",
        }
        base = f"http://127.0.0.1:{port}"
        for name, path in scenarios.items():
            script = workdir / f"{name}.lua"
            script.write_text(WRK_SCRIPT % {"ids": workdir / "ids.txt", "key": key, "path": path})
            run_wrk(base, script, args.warmup, 32, pids)
            results[name] = {1: [], 32: []}
            for _round in range(args.rounds):
                for connections in (1, 32):
                    figures = run_wrk(base, script, args.duration, connections, pids)
                    results[name][connections].append(figures)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        name: {
            c: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for c, runs in by.items()
        }
        for name, by in results.items()
    }


def report(backend: str, medians: dict, api_workers: int) -> None:
    print(f"\n{backend}: {api_workers} API process(es), medians of the rounds")
    print(
        f"{'scenario':<12} {'c=1 req/s':>10} {'c=32 req/s':>11} {'CPU ms c=1':>11} "
        f"{'CPU ms c=32':>12} {'CPU growth':>11} {'p99 ms c=32':>12} {'vs Attendee':>12}"
    )
    for name, by in medians.items():
        one, many = by[1], by[32]
        print(
            f"{name:<12} {one['rps']:>10.0f} {many['rps']:>11.0f} {one['cpu_ms']:>11.3f} "
            f"{many['cpu_ms']:>12.3f} {many['cpu_ms'] / one['cpu_ms']:>10.2f}x "
            f"{many['p99']:>12.2f} {many['rps'] / ATTENDEE[name]:>11.1f}x"
        )
    ratio = medians["list"][32]["rps"] / medians["get"][32]["rps"]
    print(f"list/get throughput at c=32: {ratio:.2f} (target >= 0.33)")
    get_target = 2000.0 if backend == "SQLite" else 10 * ATTENDEE["get"]
    targets = {
        f"GET bot >= {get_target:,.0f} req/s at c=32": medians["get"][32]["rps"] >= get_target,
        "page of 25 costs <= 3x one bot (list/get >= 0.33)": ratio >= 0.33,
        "transcript >= 10x Attendee": medians["transcript"][32]["rps"]
        >= 10 * ATTENDEE["transcript"],
        "CPU per request grows <= 1.5x from c=1 to c=32": all(
            by[32]["cpu_ms"] <= 1.5 * by[1]["cpu_ms"] for by in medians.values()
        ),
    }
    for target, met in targets.items():
        print(f"  {'met' if met else 'NOT met'}: {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per scenario")
    parser.add_argument("--rounds", type=int, default=3, help="c=1/c=32 pairs per scenario")
    parser.add_argument("--postgres", help="also measure on this PostgreSQL database (recreated)")
    parser.add_argument(
        "--api-workers",
        type=int,
        default=1,
        help="API processes (the targets are for one, as Attendee's figures are for one worker)",
    )
    parser.add_argument("--serve-args", default="", help="extra `sitin serve` arguments")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    backends = {"SQLite": None, **({"PostgreSQL": args.postgres} if args.postgres else {})}
    measured = {name: measure(name, url, args) for name, url in backends.items()}
    print(f"\n1-minute load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name, medians in measured.items():
        report(name, medians, args.api_workers)


if __name__ == "__main__":
    main()
