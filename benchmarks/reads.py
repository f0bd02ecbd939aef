"""Reads of sealed content against plaintext reads, side by side in one run (issue 10).

    .venv/bin/python benchmarks/reads.py                 # SQLite + local blobs
    .venv/bin/python benchmarks/reads.py --recording-mb 200 --repeat 30

Two ended bots with the same meeting on one real uvicorn server, in a process of its own (as a
client meets it; in this process it would share the GIL with the timing client): 100
utterances, 100 chat messages (of which the API serves the first page), and a recording. The
sealed bot is stored as sitin stores it (every value and the recording sealed under its data
key); the plaintext bot holds the same values unsealed, read through the same routes by a server
whose opening step passes plaintext values through — what the read path cost before sealing.
Each request is timed on a warm kept-alive stdlib connection, alternating the two bots, and the
medians compared.
Target: sealed ≤ 1.15 × plaintext for GET transcript and GET chat_messages.

The recording download is timed twice: through sitin's link (``/blobs/…``, opened chunk by chunk
while it streams, over HTTP) and in-process (``SealedBlobStore.open`` read to the end, one core,
against reading the raw file from the backend). Target: ≥ 200 MB/s on one core.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from api_throughput import free_port, wait_until_healthy
from delete_data import finish_meeting, new_ended_bot

from sitin.bootstrap import build_context
from sitin.config import Settings
from sitin.core import json_text
from sitin.db import api_keys, capture, meeting_data, projects, sealing
from sitin.encryption.aead import SEALED_JSON_TEXT_PREFIX, is_sealed
from sitin.runtime.blob_fence import store_blob

UTTERANCES = 100
CHAT = 100


def passthrough_for_plaintext() -> None:
    """Open plaintext values as themselves (the plaintext bot); sealed ones as sitin does."""
    sealed_text, sealed_json = sealing.Opener.text, sealing.Opener.json

    def text(self, value, purpose, empty=""):
        return (
            value
            if value is not None and not is_sealed(value)
            else sealed_text(self, value, purpose, empty)
        )

    def json(self, value, purpose, empty=None):
        return (
            value
            if value is not None and not is_sealed(value)
            else sealed_json(self, value, purpose, empty)
        )

    sealing.Opener.text, sealing.Opener.json = text, json

    # The transcript's utterances, read as their column's text: a plaintext one as the read
    # path took it before sealing (parsed as the column type parses, kept if it has text); a
    # sealed one as sitin does.
    sealed_transcriptions = meeting_data.response_transcriptions

    def transcriptions(opener, texts):
        if not texts or texts[0].startswith(SEALED_JSON_TEXT_PREFIX):
            return sealed_transcriptions(opener, texts)
        parsed = [json_text.loads(text) for text in texts]
        return [value if value.get("transcript") else None for value in parsed]

    meeting_data.response_transcriptions = transcriptions


SECRET = "bench"  # the master secret of both processes: the server opens what this one sealed


def serve(data_dir: Path, port: int) -> None:
    """The server process: sitin's app on the benchmark's data, plaintext passed through."""
    import uvicorn

    from sitin.api.app import create_app

    passthrough_for_plaintext()
    settings = Settings(data_dir=data_dir, secret_key=SECRET, port=port)  # its own rooms
    ctx = build_context(settings, migrate=False)
    uvicorn.run(create_app(ctx), host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextmanager
def serving(data_dir: Path, log: Path) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, __file__, "--serve", str(data_dir), "--port", str(port)]
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, url, log)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def capture_meeting(ctx, bot_id: str) -> None:
    with ctx.db.write() as tx:
        people = [
            capture.upsert_participant(
                tx, bot_id=bot_id, uuid=f"uuid-{i}", name=f"Participant {i}", is_host=i == 0
            )
            for i in range(4)
        ]
        for i in range(UTTERANCES):
            capture.add_utterance(
                tx,
                bot_id=bot_id,
                participant_id=people[i % 4],
                timestamp_ms=1000 + i * 3000,
                duration_ms=2500,
                transcription={
                    "transcript": f"sentence {i}: the quarterly numbers look good so far",
                    "words": [{"word": "the", "start": 0.0, "end": 0.2}] * 8,
                },
            )
        for i in range(CHAT):
            capture.add_chat_message(
                tx,
                bot_id=bot_id,
                participant_id=people[i % 4],
                text=f"chat {i}: see the doc for details",
                timestamp_ms=2000 + i * 1000,
            )


def unseal_rows(ctx, bot_id: str) -> None:
    """The same values in plaintext, as a version without sealing stored them."""
    from sqlalchemy import select, update

    from sitin.db.tables import metadata

    opener = sealing.Opener(bot_id, ctx.keys.key_for_reading(bot_id))
    with ctx.db.write() as tx:
        for table_name, column, purpose, kind in sealing.SEALED_COLUMNS:
            table = metadata.tables[table_name]
            rows = tx.conn.execute(
                select(table.c.id, table.c[column]).where(
                    table.c.bot_id == bot_id, table.c[column].is_not(None)
                )
            ).all()
            for row_id, value in rows:
                if not is_sealed(value):
                    continue
                plain = (
                    opener.text(value, purpose) if kind == "text" else opener.json(value, purpose)
                )
                tx.conn.execute(update(table).where(table.c.id == row_id).values({column: plain}))


def store_recording(ctx, bot_id: str, path: Path) -> None:
    key = capture.blob_key(bot_id, "recording.mp3")

    def record(tx, size: int) -> None:
        capture.set_recording_file(
            tx, bot_id=bot_id, blob_key=key, blob_size=size, first_buffer_timestamp_ms=1000
        )

    store_blob(ctx.db, ctx.blobs, bot_id=bot_id, key=key, content=path, record=record)


class Timed:
    def __init__(self, base_url: str, key: str):
        host, port = base_url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=600)
        self.headers = {"Authorization": f"Token {key}"}

    def get(self, path: str) -> tuple[float, bytes]:
        started = time.perf_counter()
        self.connection.request("GET", path, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
        return elapsed, body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=40, help="timed requests per route and bot")
    parser.add_argument("--recording-mb", type=int, default=100)
    parser.add_argument("--serve", metavar="DATA_DIR", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    with tempfile.TemporaryDirectory(prefix="sitin-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", secret_key=SECRET)
        ctx = build_context(settings)
        with ctx.db.write() as tx:
            project_id = projects.create(tx.conn, name="bench")
            _key_id, key = api_keys.create(tx.conn, project_id=project_id, name="bench")
        headers = {"Authorization": f"Token {key}"}
        recording = Path(tmp) / "recording.mp3"
        recording.write_bytes(os.urandom(args.recording_mb * 1024 * 1024))
        log = Path(tmp) / "serve.log"
        with (
            serving(settings.data_dir, log) as url,
            httpx.Client(base_url=url, headers=headers, timeout=600) as api,
        ):
            bots = {}
            for kind in ("sealed", "plaintext"):
                bot_id = new_ended_bot(api, ctx)
                capture_meeting(ctx, bot_id)
                store_recording(ctx, bot_id, recording)
                finish_meeting(ctx, bot_id)
                bots[kind] = bot_id
            unseal_rows(ctx, bots["plaintext"])
            plain_blob = capture.blob_key(bots["plaintext"], "recording.mp3")
            ctx.blobs.backend.put_file(plain_blob, recording)  # the recording as stored before
            ctx.db.checkpoint()

            timed = Timed(url, key)
            times: dict[tuple[str, str], list[float]] = {}
            for route in ("transcript", "chat_messages"):
                for kind in ("sealed", "plaintext"):  # warm up, and check both answer alike
                    timed.get(f"/api/v1/bots/{bots[kind]}/{route}")
                for i in range(args.repeat):
                    order = ("sealed", "plaintext") if i % 2 == 0 else ("plaintext", "sealed")
                    for kind in order:
                        elapsed, _ = timed.get(f"/api/v1/bots/{bots[kind]}/{route}")
                        times.setdefault((route, kind), []).append(elapsed)
            sealed_body = api.get(f"/api/v1/bots/{bots['sealed']}/transcript").json()
            plain_body = api.get(f"/api/v1/bots/{bots['plaintext']}/transcript").json()
            assert sealed_body == plain_body and len(sealed_body) == UTTERANCES

            link = api.get(f"/api/v1/bots/{bots['sealed']}/recording").json()["url"]
            parts = urlsplit(link)
            download = []
            for _ in range(3):
                elapsed, body = timed.get(f"{parts.path}?{parts.query}")
                assert len(body) == recording.stat().st_size
                download.append(elapsed)
            timed.connection.close()

        sealed_key = capture.blob_key(bots["sealed"], "recording.mp3")
        in_process, raw = [], []
        for _ in range(3):
            started_cpu = time.process_time()
            size = sum(len(c) for c in ctx.blobs.open(sealed_key).chunks)
            in_process.append(time.process_time() - started_cpu)
            started_cpu = time.process_time()
            raw_size = sum(
                len(c)
                for c in ctx.blobs.backend.read_range(plain_blob, 0, recording.stat().st_size)
            )
            raw.append(time.process_time() - started_cpu)
        assert size == raw_size == recording.stat().st_size
        mb = recording.stat().st_size / 1e6
        ctx.close()

    print(f"\nreads, sealed vs plaintext (median of {args.repeat}, ms; ratio target <= 1.15)")
    print(f"{'route':>16} {'sealed ms':>10} {'plaintext ms':>13} {'ratio':>6} {'met':>4}")
    for route in ("transcript", "chat_messages"):
        sealed = statistics.median(times[(route, "sealed")]) * 1e3
        plain = statistics.median(times[(route, "plaintext")]) * 1e3
        ratio = sealed / plain
        print(
            f"{route:>16} {sealed:>10.2f} {plain:>13.2f} {ratio:>6.2f} "
            f"{'yes' if ratio <= 1.15 else 'NO':>4}"
        )
    http_rate = mb / statistics.median(download)
    cpu_rate = mb / statistics.median(in_process)
    raw_rate = mb / statistics.median(raw)
    print(f"\nrecording download, {mb:.0f} MB (target >= 200 MB/s on one core)")
    print(f"  via sitin's link over HTTP (wall clock):      {http_rate:8.0f} MB/s")
    print(f"  opened in-process (CPU time of one core):     {cpu_rate:8.0f} MB/s")
    print(f"  raw backend read, plaintext (CPU, one core):  {raw_rate:8.0f} MB/s")
    print(f"\nload average (1, 5, 15 min) at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
