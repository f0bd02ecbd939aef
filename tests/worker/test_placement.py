"""Bot placement by capacity on real processes, on both databases: ``sitin serve`` with two
workers of one load unit each runs two record-only bots, one on each; a third waits in joining
with one bot log entry saying why (not one per look) and is placed as soon as a bot leaves;
``sitin workers`` and ``/metrics`` (only with the operator's token) show the load in use."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sitin.bootstrap import build_context
from sitin.config import Settings
from support.bot_logs import bot_logs
from support.launcher import StandInLauncher
from support.live import FAST_RUNTIME
from support.process import FIRST_START_KEY, running_server, wait_for

SITIN = Path(sys.executable).with_name("sitin")
TOKEN = "metrics-token-for-the-test"
STAY = {"only_participant_in_meeting_timeout_seconds": 3600}


def _env(data_dir: Path, database_url: str) -> dict[str, str]:
    runtime = {f"SITIN_{name.upper()}": str(value) for name, value in FAST_RUNTIME.items()}
    return {
        "SITIN_DATA_DIR": str(data_dir),
        "SITIN_DATABASE_URL": database_url,
        "SITIN_SECRET_KEY": "placement-test",
        "SITIN_WORKER_CAPACITY": "1",
        "SITIN_METRICS_TOKEN": TOKEN,
        **runtime,
    }


def bot_state(http, bot_id: str) -> dict:
    return http.get(f"/api/v1/bots/{bot_id}").json()


def sitin_workers(env: dict[str, str]) -> list[list[str]]:
    """The rows of `sitin workers`: name, in use, capacity, bots, ..."""
    shown = subprocess.run(
        [str(SITIN), "workers"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    return [line.split() for line in shown.stdout.splitlines()[1:]]


def metric(text: str, name: str, **labels: str) -> list[float]:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else r"(?:\{[^}]*\})?")
    return [float(v) for v in re.findall(rf"^{pattern} (\S+)$", text, re.MULTILINE)]


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_bots_wait_for_room_and_are_placed_when_a_worker_has_some(tmp_path, database_url):
    env = _env(tmp_path / "data", database_url)
    with running_server(env, tmp_path / "serve.log", ["--workers", "2"]) as server:
        wait_for(lambda: len(sitin_workers(env)) == 2, "two registered workers")
        key = FIRST_START_KEY.search(server.log()).group(1)
        http = server.client(headers={"Authorization": f"Token {key}"}, timeout=30)

        def create(room: str) -> str:
            body = {
                "meeting_url": f"{server.url}/rooms/{room}",
                "bot_name": "Notetaker",
                "transcription_settings": {"none": {}},
                "automatic_leave_settings": STAY,
            }
            created = http.post("/api/v1/bots", json=body)
            assert created.status_code == 201, created.text
            return created.json()["id"]

        first, second = create("one"), create("two")
        for bot_id in (first, second):
            wait_for(
                lambda b=bot_id: bot_state(http, b)["state"] == "joined_recording",
                "a bot",
                explain=lambda b=bot_id: f"{bot_state(http, b)}\n{server.log()[-4000:]}",
            )
        rows = sitin_workers(env)
        assert sorted((row[1], row[2], row[3]) for row in rows) == [("1", "1", "1")] * 2

        third = create("three")
        context = build_context(
            Settings(**{k.removeprefix("SITIN_").lower(): v for k, v in env.items()}),
            migrate=False,
            launcher=StandInLauncher(),
        )
        try:

            def placement_logs() -> list:
                return [e for e in bot_logs(context, third) if e.entry_type == "placement"]

            [waiting] = wait_for(placement_logs, "the waiting bot's log entry")
            assert "every worker is full" in waiting.message and "1/1" in waiting.message
            assert "needs 1 load units" in waiting.message
            metrics = http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert metrics.status_code == 200
            assert metric(metrics.text, "sitin_worker_load_units") == [1.0, 1.0]
            assert metric(metrics.text, "sitin_worker_capacity_units") == [1.0, 1.0]
            assert metric(metrics.text, "sitin_bots", state="joining") == [1.0]
            assert metric(metrics.text, "sitin_bots", state="joined_recording") == [2.0]
            assert metric(metrics.text, "sitin_queue_depth")
            assert metric(metrics.text, "sitin_webhook_backlog") == [0.0]
            assert metric(metrics.text, "sitin_deletion_journal_length") == [0.0]
            assert bot_state(http, third)["state"] == "joining"
            # the project's own API key does not open the operator's metrics
            assert http.get("/metrics").status_code == 401

            assert http.post(f"/api/v1/bots/{first}/leave").status_code == 200
            wait_for(lambda: bot_state(http, third)["state"] == "joined_recording", "placement")
            assert bot_state(http, first)["state"] == "ended"
            assert len(placement_logs()) == 1  # once, not once per look
        finally:
            context.close()
