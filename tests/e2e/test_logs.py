"""What a real ``sitin serve`` logs while a real meeting runs: one line per request (method, route
template, status, duration), one per bot state change, a warning per join failure; as JSON lines
with ``--log-format json``. Never the API key, a request body, or meeting content (the transcript's
words, chat, participants' names, metadata), even at ``--log-level debug``."""

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from support.live import FAST_RUNTIME
from support.peers import TestParticipant
from support.process import free_port, running_server
from support.speech import flite_wav, read_pcm_48k

SITIN = Path(sys.executable).with_name("sitin")
SPOKEN = "the purple giraffe negotiates quarterly marmalade budgets with seventeen penguins"
CHAT = "confidential acquisition codename bluefinch"
SECRET_METADATA = "customer-zebra-4417"
PARTICIPANT = "Wilhelmina"
ROOM = "logroom"


def _env(data_dir: Path) -> dict[str, str]:
    runtime = {f"SITIN_{name.upper()}": str(value) for name, value in FAST_RUNTIME.items()}
    return {"SITIN_DATA_DIR": str(data_dir), "SITIN_SECRET_KEY": "log-test-secret", **runtime}


def _make_key(data_dir: Path) -> str:
    """A project and key made with the CLI, so the server never prints a key itself."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SITIN_")}, **_env(data_dir)}
    for args in (["projects", "create", "logs"], ["keys", "create", "--project", "logs"]):
        made = subprocess.run(
            [str(SITIN), *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert made.returncode == 0, made.stderr
    return made.stdout.splitlines()[-1]


async def _meeting(http: httpx.Client, base_url: str, tmp_path: Path) -> dict:
    person = TestParticipant(base_url, ROOM, PARTICIPANT)
    await person.join()
    created = await asyncio.to_thread(
        http.post,
        "/api/v1/bots",
        json={
            "meeting_url": f"{base_url}/rooms/{ROOM}",
            "bot_name": "Notetaker",
            "metadata": {"customer": SECRET_METADATA},
        },
    )
    assert created.status_code == 201, created.text
    bot_id = created.json()["id"]

    def state_is(*states: str):
        bot = http.get(f"/api/v1/bots/{bot_id}").json()
        return bot if bot["state"] in states else None

    await asyncio.to_thread(_wait, lambda: state_is("joined_recording"), "joined_recording")
    person.say(read_pcm_48k(flite_wav(tmp_path, "spoken", SPOKEN, tail_silence_s=1.0)))
    await person.send_chat(CHAT)

    def transcribed():
        utterances = http.get(f"/api/v1/bots/{bot_id}/transcript").json()
        chat = http.get(f"/api/v1/bots/{bot_id}/chat_messages").json()["results"]
        return utterances if utterances and chat else None

    transcript = await asyncio.to_thread(_wait, transcribed, "transcript and chat", 90)
    assert (await asyncio.to_thread(http.post, f"/api/v1/bots/{bot_id}/leave")).status_code == 200
    await asyncio.to_thread(_wait, lambda: state_is("ended"), "ended")
    await person.leave()
    return {"bot_id": bot_id, "transcript": transcript}


def _wait(condition, what: str, timeout: float = 60.0):
    import time

    deadline = time.monotonic() + timeout
    while (value := condition()) is None or value is False:
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


@pytest.mark.slow
def test_a_meeting_leaves_requests_and_state_changes_in_the_log_and_no_content(tmp_path):
    data_dir = tmp_path / "data"
    key = _make_key(data_dir)
    log_path = tmp_path / "serve.log"
    closed_port = free_port()  # a room host nothing listens on, listed so the bot tries it
    env = {**_env(data_dir), "SITIN_OUTBOUND_HOSTS": f"127.0.0.1:{closed_port}"}
    with running_server(
        env, log_path, args=["--log-format", "json", "--log-level", "debug"]
    ) as server:
        with server.client(headers={"Authorization": f"Token {key}"}, timeout=30) as http:
            meeting = asyncio.run(_meeting(http, server.url, tmp_path))
            failing = http.post(
                "/api/v1/bots",
                json={"meeting_url": f"http://127.0.0.1:{closed_port}/rooms/x", "bot_name": "B"},
            ).json()["id"]
            _wait(
                lambda: http.get(f"/api/v1/bots/{failing}").json()["state"] == "fatal_error",
                "fatal_error",
            )
            assert http.get("/api/v1/bots/bot_doesnotexist0000").status_code == 404
        assert httpx.get(f"{server.url}/api/v1/bots").status_code == 401
    log = log_path.read_text()
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    other = [line for line in log.splitlines() if line and not line.startswith("{")]
    assert all(line.startswith("sitin ") for line in other), other  # the start-up banner only

    access = {
        (r["method"], r["path"], r["status"]) for r in records if r["logger"] == "sitin.access"
    }
    assert {
        ("POST", "/api/v1/bots", 201),
        ("GET", "/api/v1/bots/{object_id}", 200),
        ("GET", "/api/v1/bots/{object_id}/transcript", 200),
        ("GET", "/api/v1/bots/{object_id}/chat_messages", 200),
        ("POST", "/api/v1/bots/{object_id}/leave", 200),
        ("GET", "/api/v1/bots/{object_id}", 404),
        ("GET", "/api/v1/bots", 401),
    } <= access
    assert all(
        r["duration_ms"] >= 0 and r["message"].startswith(f"{r['method']} {r['path']} ")
        for r in records
        if r["logger"] == "sitin.access"
    )

    bot_id = meeting["bot_id"]
    states = [r["new_state"] for r in records if r.get("bot_id") == bot_id and "new_state" in r]
    assert states == [
        "joining",
        "joined_not_recording",
        "joined_recording",
        "leaving",
        "post_processing",
        "ended",
    ]
    failures = [r for r in records if r.get("bot_id") == failing and r["level"] == "warning"]
    assert [r["event"] for r in failures] == ["could_not_join_meeting/unable_to_connect_to_meeting"]
    assert "could not join" in failures[0]["message"]

    heard = " ".join(u["transcription"]["transcript"] for u in meeting["transcript"])
    secrets = [key, CHAT, SECRET_METADATA, PARTICIPANT, "bluefinch", "Notetaker"]
    words = {w for w in re.findall(r"[a-z]+", f"{SPOKEN} {heard}".lower()) if len(w) >= 6}
    assert words, heard
    lowered = log.lower()
    assert [s for s in secrets if s.lower() in lowered] == []
    assert [w for w in words if w in lowered] == []


def test_text_format_by_default_and_log_level_filters_the_access_log(tmp_path):
    data_dir = tmp_path / "data"
    key = _make_key(data_dir)
    lines = {}
    for level in ("info", "warning"):
        log_path = tmp_path / f"serve-{level}.log"
        with (
            running_server(_env(data_dir), log_path, args=["--log-level", level]) as server,
            server.client(headers={"Authorization": f"Token {key}"}) as http,
        ):
            assert http.get("/api/v1/bots?meeting_url=secret-room").status_code == 200
        lines[level] = log_path.read_text().splitlines()
    text_line = re.compile(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO +sitin\.access: "
        r"GET /api/v1/bots 200 \d+\.\d\dms"
    )
    assert [line for line in lines["info"] if text_line.fullmatch(line)], lines["info"]
    assert not any("sitin.access" in line for line in lines["warning"])
    assert not any("secret-room" in line or key in line for line in lines["info"])
