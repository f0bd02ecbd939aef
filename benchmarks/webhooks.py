"""Webhook delivery: sustained deliveries/s to a local receiver, and the latency an event waits
before its receiver has it (p50/p99), with the embedded SQLite queue and with the Redis queue.

    .venv/bin/python benchmarks/webhooks.py [--events 2000] [--paced 300] [--rate 20]
                                            [--threads 8] [--redis redis://127.0.0.1:6379/12]

Setup per queue: a fresh SQLite database, one bot with a bot-level subscription to
``transcript.update``, and an in-process worker (``sitin.worker.process.Worker``, N threads)
delivering to a receiver in a separate process (ThreadingHTTPServer on 127.0.0.1, answers 200 and
notes the arrival time of each idempotency key). Each event is ``webhooks.dispatch.fire`` in its own
write transaction, as the runtime does for an utterance.

- backlog: ``--events`` events are fired (one thread, as fast as it commits: "fire tx/s") while
  the worker is stopped; then the worker starts and deliveries/s = events / (last arrival - start),
  the sustained rate with a full queue.
- paced: ``--paced`` events at ``--rate``/s, well below capacity; latency = arrival - commit of the
  firing transaction (what a webhook adds to an event, queue pickup included).
"""

import argparse
import json
import multiprocessing
import socket
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from sitin.bootstrap import build_context, build_worker
from sitin.config import Settings
from sitin.core.ids import new_id
from sitin.core.states import BotState
from sitin.core.timefmt import utcnow
from sitin.core.triggers import Trigger
from sitin.db import bots, projects
from sitin.db.tables import webhook_subscriptions
from sitin.webhooks import envelope
from sitin.webhooks.dispatch import fire


def _receiver_main(port_pipe) -> None:
    arrivals: list[tuple[str, float]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes: Nagle + delayed ACK would add 40 ms.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            now = time.time()
            key = json.loads(body)["idempotency_key"]
            with lock:
                arrivals.append((key, now))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def do_GET(self) -> None:
            with lock:
                payload = json.dumps(arrivals).encode()
                if self.path == "/reset":
                    arrivals.clear()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_pipe.send(server.server_address[1])
    server.serve_forever()


def _arrivals(base: str, *, reset: bool = False) -> dict[str, float]:
    response = httpx.get(f"{base}/{'reset' if reset else 'stats'}", timeout=30)
    return dict(response.json())


def _setup(data_dir: Path, queue_url: str | None, receiver_url: str, threads: int):
    settings = Settings(
        data_dir=data_dir,
        secret_key="bench",
        queue_url=queue_url,
        allow_insecure_webhooks=True,
    )
    ctx = build_context(settings)
    ctx.queue.huey.flush()
    with ctx.db.write() as tx:
        project_id = projects.create(tx.conn, name="bench")
        bot_id = bots.insert_bot(
            tx.conn,
            project_id=project_id,
            name="bench",
            meeting_url="http://127.0.0.1:8000/rooms/bench",
            platform="room",
            state=BotState.JOINED_RECORDING,
            join_at=None,
            deduplication_key=None,
            metadata=None,
            settings={"recording_settings": {"format": "none"}},
            data_retention_seconds=None,
        )
        tx.conn.execute(
            webhook_subscriptions.insert().values(
                id=new_id("webhook"),
                project_id=project_id,
                bot_id=bot_id,
                url=receiver_url,
                triggers=[Trigger.TRANSCRIPT_UPDATE],
                is_active=True,
                created_at=utcnow(),
            )
        )
    worker = build_worker(ctx, threads=threads, periodic=False)
    return ctx, bot_id, worker


def _fire_one(ctx, bot_id: str, i: int) -> tuple[str, float]:
    data = envelope.transcript_data(
        speaker_name="Speaker",
        speaker_uuid="uuid-1",
        speaker_user_uuid=None,
        speaker_is_host=False,
        timestamp_ms=i * 1000,
        duration_ms=900,
        transcript=f"utterance number {i} of the benchmark meeting",
    )
    with ctx.db.write() as tx:
        [key] = fire(tx, bot_id=bot_id, trigger=Trigger.TRANSCRIPT_UPDATE, data=data)
    return key, time.time()  # after the commit (and the after-commit enqueue)


def _wait_all(base: str, keys: set[str], timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        arrivals = _arrivals(base)
        if keys <= arrivals.keys():
            return arrivals
        if time.monotonic() > deadline:
            missing = len(keys - arrivals.keys())
            raise SystemExit(f"{missing} deliveries did not arrive within {timeout}s")
        time.sleep(0.2)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_queue(name: str, queue_url: str | None, base: str, args) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="sitin-bench-webhooks-") as tmp:
        ctx, bot_id, worker = _setup(Path(tmp), queue_url, f"{base}/hook", args.threads)
        try:
            _arrivals(base, reset=True)
            fired = dict(_fire_one(ctx, bot_id, i) for i in range(args.events))
            produced = len(fired) / (max(fired.values()) - min(fired.values()))
            started = time.time()
            worker.start()
            arrivals = _wait_all(base, set(fired), timeout=600)
            drain_rate = len(fired) / (max(arrivals[k] for k in fired) - started)

            _arrivals(base, reset=True)
            paced: dict[str, float] = {}
            start = time.monotonic()
            for i in range(args.paced):
                time.sleep(max(0.0, start + i / args.rate - time.monotonic()))
                key, at = _fire_one(ctx, bot_id, args.events + i)
                paced[key] = at
            arrivals = _wait_all(base, set(paced), timeout=120)
            paced_latency = [arrivals[k] - t for k, t in paced.items()]
        finally:
            worker.stop()
            ctx.queue.huey.flush()
            ctx.close()
    return {
        "queue": name,
        "fired_per_s": produced,
        "drain_per_s": drain_rate,
        "paced_p50_ms": statistics.median(paced_latency) * 1000,
        "paced_p99_ms": _percentile(paced_latency, 0.99) * 1000,
        "paced_max_ms": max(paced_latency) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--paced", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()

    parent, child = multiprocessing.Pipe()
    receiver = multiprocessing.Process(target=_receiver_main, args=(child,), daemon=True)
    receiver.start()
    base = f"http://127.0.0.1:{parent.recv()}"
    try:
        rows = [run_queue("SQLite (embedded)", None, base, args)]
        try:
            import redis

            redis.Redis.from_url(args.redis).ping()
        except Exception as exc:  # noqa: BLE001 - report and go on
            print(f"Redis queue skipped: {exc}", file=sys.stderr)
        else:
            rows.append(run_queue("Redis", args.redis, base, args))
    finally:
        receiver.terminate()

    print(
        f"\nwebhook delivery, {args.threads} worker threads, SQLite database, "
        f"backlog {args.events} events, paced {args.paced} at {args.rate:g}/s"
    )
    header = ("queue", "fire tx/s", "deliveries/s", "paced p50 ms", "paced p99 ms", "max ms")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print(
            f"| {row['queue']} | {row['fired_per_s']:.0f} | {row['drain_per_s']:.0f} | "
            f"{row['paced_p50_ms']:.1f} | {row['paced_p99_ms']:.1f} | {row['paced_max_ms']:.1f} |"
        )


if __name__ == "__main__":
    main()
