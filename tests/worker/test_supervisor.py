"""``sitin serve`` runs its bots in worker processes it supervises, tested on real processes: one
per core by default (``--workers N``, 0 for none); a worker killed with SIGKILL is started again
(its bots' heartbeats stop and the reaper fails them, as for any dead worker) and new bots are
served; SIGTERM stops the server and every worker; a server killed outright leaves no worker
running."""

import os
import re
import signal
from pathlib import Path

import httpx
import pytest

from sitin.config import cores
from support.live import FAST_RUNTIME
from support.process import (
    FIRST_START_KEY,
    alive,
    children,
    running_server,
    start_server,
    wait_for,
    worker_children,
)


def _env(data_dir: Path) -> dict[str, str]:
    runtime = {f"SITIN_{name.upper()}": str(value) for name, value in FAST_RUNTIME.items()}
    return {"SITIN_DATA_DIR": str(data_dir), "SITIN_SECRET_KEY": "supervisor-test", **runtime}


def wait_for_workers(server_pid: int, count: int, log, *, started_lines: int = 0) -> list[int]:
    """The pids of the server's ``count`` workers once each has logged its start (the log
    holding ``started_lines`` such lines in all, counting earlier workers')."""

    def started():
        pids = worker_children(server_pid)
        lines = log().count("sitin.worker.process: worker started")
        return pids if len(pids) == count and lines >= (started_lines or count) else None

    return wait_for(started, f"{count} worker processes")


def bot_state(http: httpx.Client, bot_id: str) -> dict:
    return http.get(f"/api/v1/bots/{bot_id}").json()


def create_bot(server, http: httpx.Client, room: str) -> str:
    created = http.post(
        "/api/v1/bots",
        json={
            "meeting_url": f"{server.url}/rooms/{room}",
            "bot_name": "Notetaker",
            "transcription_settings": {"none": {}},
        },
    )
    assert created.status_code == 201, created.text
    return created.json()["id"]


def test_a_killed_worker_is_restarted_its_bots_fail_and_new_bots_are_served(tmp_path):
    with running_server(_env(tmp_path / "data"), tmp_path / "serve.log", ["--workers", "2"]) as s:
        workers = wait_for_workers(s.process.pid, 2, s.log)
        assert "2 bot worker process(es)" in s.log()
        key = FIRST_START_KEY.search(s.log()).group(1)
        http = s.client(headers={"Authorization": f"Token {key}"}, timeout=30)
        first = create_bot(s, http, "before-crash")
        wait_for(lambda: bot_state(http, first)["state"] == "joined_recording", "the first bot")

        for pid in workers:  # whichever runs the bot: both die
            os.kill(pid, signal.SIGKILL)
        restarted = wait_for_workers(s.process.pid, 2, s.log, started_lines=4)
        assert not set(restarted) & set(workers)
        wait_for(lambda: s.log().count("restarted (pid") == 2, "two restart lines")
        assert re.search(r"bot worker \d \(pid \d+\) killed by SIGKILL after", s.log())

        # the dead worker's bot: its heartbeats stopped, the reaper (on a new worker) fails it
        failed = wait_for(
            lambda: (bot := bot_state(http, first))["state"] == "fatal_error" and bot,
            "the dead worker's bot to be failed",
        )
        assert failed["events"][-1]["sub_type"] == "heartbeat_timeout"

        second = create_bot(s, http, "after-crash")
        wait_for(lambda: bot_state(http, second)["state"] == "joined_recording", "a new bot")

        s.process.send_signal(signal.SIGTERM)
        assert s.process.wait(timeout=90) == 0, s.log()
        assert not any(alive(pid) for pid in restarted), "a worker outlived its server"
        assert "stopped bot worker 0, bot worker 1" in s.log()


def test_a_server_killed_outright_leaves_no_worker_running(tmp_path):
    args = ["--workers", "1", "--api-workers", "2"]
    server = start_server(_env(tmp_path / "data"), tmp_path / "serve.log", args=args)
    started: list[int] = []
    try:
        [worker] = wait_for_workers(server.process.pid, 1, server.log)
        started = children(server.process.pid)
        assert len(started) == 3  # the worker and two API processes
        server.process.kill()
        server.process.wait()
        wait_for(lambda: not alive(worker), "the orphaned worker to stop", timeout_s=60)
        assert "the server that started this worker is gone" in server.log()
        still = lambda: [pid for pid in started if alive(pid)]  # noqa: E731
        wait_for(lambda: not still(), "the orphaned API processes to stop", explain=still)
    finally:
        server.stop()
        for pid in started:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("args, expected", [([], cores()), (["--workers", "0"], 0)])
def test_serve_runs_one_worker_per_core_by_default_and_none_with_zero(tmp_path, args, expected):
    with running_server(_env(tmp_path / "data"), tmp_path / "serve.log", args) as server:
        if expected:
            wait_for_workers(server.process.pid, expected, server.log)
        assert f"{expected} bot worker process(es)" in server.log()
        assert len(worker_children(server.process.pid)) == expected
        assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
