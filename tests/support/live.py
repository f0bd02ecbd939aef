"""A live sitin for end-to-end tests: API + rooms served by uvicorn on 127.0.0.1, a worker with
its bot host, a project and key; helpers to call the API and wait for bot states."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from sitin.api.app import create_app
from sitin.bootstrap import build_context, build_worker, periodic_jobs
from sitin.config import Settings
from sitin.context import AppContext
from support.projects import create_project
from support.servers import bound_socket, serve

FAST_RUNTIME = {
    "heartbeat_interval": 0.5,
    # 20 heartbeats: a test process busy with peers, clients and a bot (CI, 2 cores) can go a
    # few seconds without one, and a bot failed with heartbeat_timeout is not what it tests
    "heartbeat_timeout": 10.0,
    "launch_timeout": 30.0,
    "stage_ahead_seconds": 1.0,
    "scheduler_interval": 0.2,
    "reaper_interval": 0.5,
    "journal_interval": 1.0,
}


@dataclass
class Live:
    ctx: AppContext
    base_url: str
    http: httpx.Client

    def room_url(self, name: str) -> str:
        return f"{self.base_url}/rooms/{name}"

    def create_bot(self, **fields) -> dict:
        response = self.http.post("/api/v1/bots", json={"bot_name": "Notetaker", **fields})
        assert response.status_code == 201, response.text
        return response.json()

    def bot(self, bot_id: str) -> dict:
        return self.http.get(f"/api/v1/bots/{bot_id}").json()

    def wait_for_state(self, bot_id: str, *states: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            bot = self.bot(bot_id)
            if bot["state"] in states:
                return bot
            if time.monotonic() > deadline:
                raise AssertionError(f"bot stayed {bot['state']}, expected {states}: {bot}")
            time.sleep(0.1)

    def wait_until(self, condition, timeout: float = 30.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)

    def download(self, url: str) -> bytes:
        """Fetch a signed download URL (S3 presigned, or the local store's link to this server)."""
        parts = urlsplit(url)
        if parts.path.startswith("/blobs/"):  # the local store's links name the configured host
            url = f"{self.base_url}{parts.path}?{parts.query}"
        response = httpx.get(url, timeout=30)
        assert response.status_code == 200, response.text
        return response.content


@contextmanager
def start_live(tmp_path: Path, *, run_bots: bool = True, **overrides) -> Iterator[Live]:
    """Serve API and rooms; run bots in this process too unless ``run_bots`` is False (then only
    the periodic jobs run here, and another worker process must execute the bots)."""
    sock = bound_socket()  # the server knows its own port: its rooms are the ones bots may join
    settings = Settings(
        data_dir=tmp_path / "data",
        secret_key="e2e-secret",
        port=sock.getsockname()[1],
        **{**FAST_RUNTIME, **overrides},
    )
    ctx = build_context(settings, run_bots=run_bots)
    project = create_project(ctx, "e2e")
    if run_bots:
        worker = build_worker(ctx, threads=4)
        worker.start()
        stop = worker.stop
    else:
        periodic = periodic_jobs(ctx, tick=0.1)
        periodic.start()
        stop = periodic.stop
    try:
        with (
            serve(create_app(ctx), sock=sock) as base_url,
            httpx.Client(base_url=base_url, headers=project.headers, timeout=30) as http,
        ):
            yield Live(ctx, base_url, http)
    finally:
        stop()
        ctx.close()
