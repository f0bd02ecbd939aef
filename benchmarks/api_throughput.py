"""API throughput: GET one bot and a filtered list, against `sitin serve` on the embedded default.

Starts `sitin serve` (SQLite + local blobs in a fresh temporary data directory, one uvicorn
process, API only) on a free 127.0.0.1 port, loads 1,000 bots with a few events each straight into
its database, then drives it with `wrk` (random bot ids from a Lua script) and prints requests/s
and p50/p99 latency per scenario.

    .venv/bin/python benchmarks/api_throughput.py [--duration 10] [--connections 16]

Target: GET /api/v1/bots/{id} >= 1,500 requests/s on one worker.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from sitin.bootstrap import build_context
from sitin.config import Settings
from sitin.core.states import BotState, EventSubType, EventType
from sitin.db import bots, projects
from sitin.db.bot_events import record_event

SITIN = Path(sys.executable).with_name("sitin")
BOT_COUNT = 1000
TARGET_GET_RPS = 1500
# Event paths from joining; bots are spread over them so the list filter has something to skip.
PATHS = [
    [],
    [(EventType.JOINED_MEETING, None), (EventType.RECORDING_PERMISSION_GRANTED, None)],
    [
        (EventType.JOINED_MEETING, None),
        (EventType.RECORDING_PERMISSION_GRANTED, None),
        (EventType.LEAVE_REQUESTED, EventSubType.USER_REQUESTED),
        (EventType.LEFT_MEETING, None),
        (EventType.POST_PROCESSING_COMPLETED, None),
    ],
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


def start_server(data_dir: Path, port: int, log: Path) -> tuple[subprocess.Popen, str]:
    """Start `sitin serve`; returns the process and the first-start API key it prints."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITIN_")}
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(SITIN), "serve", "--port", str(port), "--data-dir", str(data_dir), "--no-worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"sitin serve exited:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        sys.exit("sitin serve did not come up")
    key = re.search(r"Authorization: Token ([A-Za-z0-9]{32})", log.read_text()).group(1)
    return process, key


def load_bots(data_dir: Path) -> list[str]:
    """1,000 bots in the default project, each with 1 to 6 events, through sitin.db."""
    ctx = build_context(Settings(data_dir=data_dir), migrate=False)
    ids = []
    with ctx.db.read() as conn:
        project_id = projects.get_by_name(conn, name=projects.DEFAULT_PROJECT)["id"]
    for start in range(0, BOT_COUNT, 100):
        with ctx.db.write() as tx:
            for index in range(start, start + 100):
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
                for event, sub_type in [(EventType.JOIN_REQUESTED, None), *PATHS[index % 3]]:
                    record_event(tx, bot_id=bot_id, event=event, sub_type=sub_type)
                ids.append(bot_id)
    ctx.close()
    return ids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(
    url: str, script: Path, seconds: int, connections: int, server_pid: int
) -> dict[str, float]:
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
    cpu_before = cpu_seconds(server_pid)
    finished = subprocess.run(command, capture_output=True, text=True)
    cpu_used = cpu_seconds(server_pid) - cpu_before
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up each")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    workdir = Path(tempfile.mkdtemp(prefix="sitin-bench-"))
    port = free_port()
    process, key = start_server(workdir / "data", port, workdir / "serve.log")
    try:
        started = time.monotonic()
        ids = load_bots(workdir / "data")
        print(f"loaded {len(ids)} bots in {time.monotonic() - started:.1f} s")
        (workdir / "ids.txt").write_text("\n".join(ids) + "\n")
        scenarios = {
            "GET /api/v1/bots/{id} (random)": "",
            "GET /api/v1/bots?states=joining": "/api/v1/bots?states=joining",
        }
        results = {}
        for name, path in scenarios.items():
            script = workdir / f"scenario{len(results)}.lua"
            script.write_text(WRK_SCRIPT % {"ids": workdir / "ids.txt", "key": key, "path": path})
            base = f"http://127.0.0.1:{port}"
            run_wrk(base, script, args.warmup, args.connections, process.pid)
            results[name] = run_wrk(base, script, args.duration, args.connections, process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\n{args.connections} connections, {args.duration} s per scenario, one uvicorn worker")
    # CPU per request is what the server itself spent; 1000 / it is the rate one fully available
    # core would sustain, a fairer figure than req/s when other processes share the machine.
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    header = f"{'scenario':<36} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11}"
    print(header + f" {'req/s per core':>15}")
    for name, r in results.items():
        print(
            f"{name:<36} {r['rps']:>9.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} "
            f"{r['cpu_ms']:>11.3f} {1000 / r['cpu_ms']:>15.0f}"
        )
    get_rps = results["GET /api/v1/bots/{id} (random)"]["rps"]
    verdict = "meets" if get_rps >= TARGET_GET_RPS else "BELOW"
    print(f"\nGET bot: {get_rps:.0f} req/s, {verdict} the {TARGET_GET_RPS} req/s target")


if __name__ == "__main__":
    main()
