"""Mixed API load while a bot records a meeting: memory of the server processes over time, errors.

Starts `sitin serve --no-worker` (API, rooms) and one `sitin worker` (bots, periodic jobs) on a
fresh data directory (SQLite, local blobs), puts two aiortc participants speaking in a loop in a
room of the server (benchmarks/density_participants.py) and a bot in that room, then runs the mix
of sitin.testing.api_load (the same one tests/e2e/test_api_load.py runs, bounded) from
``--clients`` threads for ``--duration`` seconds: create/get/list/delete scheduled bots,
transcript, chat, webhooks, and bots going through join, leave, end, delete_data one after another.

    .venv/bin/python benchmarks/api_load.py [--duration 300] [--clients 4] [--interval 30]

Printed every ``--interval`` seconds: requests so far, failed requests, 5xx, and the RSS of the API
process and of the worker; at the end, the RSS growth over the second half of the run (after
warm-up) per 1,000 requests, and every failure.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from bot_density import PARTICIPANTS, Sitin, rss_mb

from sitin.testing.api_load import ApiMix, Tally

ROOM = "load"


def drive(base_url: str, key: str, bot_id: str, stop: threading.Event, first: int, mixes) -> None:
    headers = {"Authorization": f"Token {key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
        mix = ApiMix(http, bot_id, f"{base_url}/rooms/{ROOM}")
        mixes.append(mix)
        index = first
        while not stop.is_set():
            mix.round(index)
            index += 1


def lifecycles(base_url: str, key: str, bot_id: str, stop: threading.Event, mixes) -> None:
    headers = {"Authorization": f"Token {key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
        mix = ApiMix(http, bot_id, f"{base_url}/rooms/{ROOM}")
        mixes.append(mix)
        count = 0
        while not stop.is_set():
            mix.bot_lifecycle(f"{base_url}/rooms/brief-{count}")
            count += 1


class Threads:
    """The mix's threads; their tallies are read (copied) while they run."""

    def __init__(self, clients: int, base_url: str, key: str, bot_id: str) -> None:
        self.stop = threading.Event()
        self.mixes: list[ApiMix] = []
        jobs = [(drive, (base_url, key, bot_id, self.stop, i * 1_000_000)) for i in range(clients)]
        jobs.append((lifecycles, (base_url, key, bot_id, self.stop)))
        self._threads = [
            threading.Thread(target=target, args=(*job_args, self.mixes), daemon=True)
            for target, job_args in jobs
        ]
        for thread in self._threads:
            thread.start()

    def so_far(self) -> Tally:
        while True:
            try:
                total = Tally()
                for mix in list(self.mixes):
                    total.answers.update(dict(mix.tally.answers))
                    total.failures.extend(list(mix.tally.failures))
                return total
            except RuntimeError:  # a counter changed size while copied: copy again
                continue

    def finish(self) -> Tally:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=120)
        return self.so_far()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--interval", type=float, default=30.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sitin-api-load-") as tmp:
        root = Path(tmp)
        sitin = Sitin.start(root / "data", root)
        try:
            key = sitin.api_key()
            worker_pid = sitin.start_workers(1, max_bots_each=8)[0]
            people = subprocess.Popen(
                [sys.executable, str(PARTICIPANTS), sitin.url, ROOM],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                if people.stdout.readline().strip() != "ready":
                    raise RuntimeError("participants did not join")
                http = httpx.Client(
                    base_url=sitin.url, headers={"Authorization": f"Token {key}"}, timeout=30
                )
                bot = http.post(
                    "/api/v1/bots",
                    json={"meeting_url": f"{sitin.url}/rooms/{ROOM}", "bot_name": "Notetaker"},
                ).json()
                deadline = time.monotonic() + 60
                while http.get(f"/api/v1/bots/{bot['id']}").json()["state"] != "joined_recording":
                    if time.monotonic() > deadline:
                        raise RuntimeError("the meeting bot did not start recording")
                    time.sleep(0.2)
                run(args, sitin, key, bot["id"], worker_pid, http)
            finally:
                people.stdin.close()
                people.wait(timeout=30)
        finally:
            sitin.stop()


def run(args, sitin: Sitin, key: str, bot_id: str, worker_pid: int, http: httpx.Client) -> None:
    print(f"{args.clients} clients + 1 bot lifecycle loop, {args.duration:.0f} s, load {load()}")
    print(f"{'t s':>6} {'requests':>9} {'failed':>7} {'5xx':>5} {'api MB':>7} {'worker MB':>10}")
    samples: list[tuple[float, int, float, float]] = []
    threads = Threads(args.clients, sitin.url, key, bot_id)
    started = time.monotonic()

    def sample() -> None:
        partial = threads.so_far()
        elapsed = time.monotonic() - started
        api, worker = rss_mb(sitin.serve.pid), rss_mb(worker_pid)
        requests = partial.requests
        samples.append((elapsed, requests, api, worker))
        print(
            f"{elapsed:>6.0f} {requests:>9} {len(partial.failures):>7} "
            f"{partial.server_errors:>5} {api:>7.1f} {worker:>10.1f}",
            flush=True,
        )

    sample()
    while time.monotonic() - started < args.duration:
        time.sleep(min(args.interval, max(0.0, args.duration - (time.monotonic() - started))))
        sample()
    total = threads.finish()
    state = http.get(f"/api/v1/bots/{bot_id}").json()["state"]
    elapsed = time.monotonic() - started
    print(
        f"\n{total.requests} requests in {elapsed:.0f} s ({total.requests / elapsed:.0f}/s), "
        f"{len(total.failures)} failed, {total.server_errors} 5xx, "
        f"{total.answers[('delete_data', 200)]} bots deleted after their meeting; "
        f"meeting bot still {state}; load {load()}"
    )
    half = [s for s in samples if s[0] >= elapsed / 2]
    if len(half) >= 2 and total.requests:
        per_k = 1000 / max(1, half[-1][1] - half[0][1])
        print(
            f"RSS growth over the second half: API {half[-1][2] - half[0][2]:+.1f} MB "
            f"({(half[-1][2] - half[0][2]) * per_k:+.2f} MB per 1,000 requests), "
            f"worker {half[-1][3] - half[0][3]:+.1f} MB"
        )
    for failure in total.failures[:20]:
        print("  failure:", failure)


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


if __name__ == "__main__":
    main()
