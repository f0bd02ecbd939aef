"""Provider API keys: stored encrypted through the CLI, required at bot creation, never shown."""

import os
import sqlite3
import subprocess
import sys

import pytest

from sitin.config import Settings
from sitin.context import build_context
from sitin.db import credentials, projects
from support.projects import create_project

SECRET = "sk-test-DO-NOT-LEAK-1234567890"


def sitin(data_dir, *args, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "SITIN_DATA_DIR": str(data_dir), "SITIN_SECRET_KEY": "server-secret"}
    env.pop("SITIN_OPENAI_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "sitin", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_cli_stores_the_key_encrypted_and_lists_only_providers(tmp_path):
    data_dir = tmp_path / "data"
    assert sitin(data_dir, "projects", "create", "acme").returncode == 0
    stored = sitin(data_dir, "credentials", "set", "--project", "acme", "openai", stdin=SECRET)
    assert stored.returncode == 0, stored.stderr
    assert SECRET not in stored.stdout + stored.stderr

    listed = sitin(data_dir, "credentials", "list", "--project", "acme")
    assert listed.stdout.split() == ["openai"]
    assert SECRET not in listed.stdout

    raw = sqlite3.connect(data_dir / "sitin.db").execute("SELECT settings FROM projects").fetchall()
    assert SECRET not in str(raw)

    ctx = build_context(Settings(data_dir=data_dir, secret_key="server-secret"))
    with ctx.db.read() as conn:
        project_id = projects.get_by_name(conn, name="acme")["id"]
        keys = credentials.keys_for(conn, server_key=b"server-secret", project_id=project_id)
    assert keys == {"openai": SECRET}

    removed = sitin(data_dir, "credentials", "remove", "--project", "acme", "openai")
    assert removed.returncode == 0
    assert sitin(data_dir, "credentials", "list", "--project", "acme").stdout.strip() == ""


def test_unknown_project_is_a_clear_error(tmp_path):
    result = sitin(tmp_path, "credentials", "set", "--project", "nope", "openai", stdin="k")
    assert result.returncode != 0
    assert "no project named 'nope'" in result.stderr


@pytest.fixture
def no_env_key(monkeypatch):
    monkeypatch.delenv("SITIN_OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("SITIN_DEEPGRAM_API_KEY", raising=False)


@pytest.mark.usefixtures("no_env_key")
def test_a_cloud_provider_without_a_key_is_refused_at_creation(ctx, client, project):
    body = {
        "meeting_url": "http://127.0.0.1:8000/rooms/a",
        "bot_name": "B",
        "transcription_settings": {"openai": {"model": "whisper-1"}},
    }
    refused = client.post("/api/v1/bots", json=body, headers=project.headers)
    assert refused.status_code == 400
    assert "needs an API key" in refused.json()["error"]
    assert "sitin credentials set" in refused.json()["error"]

    with ctx.db.write() as tx:
        credentials.set_key(
            tx.conn,
            server_key=ctx.settings.resolved_secret_key,
            project_id=project.id,
            provider="openai",
            api_key=SECRET,
        )
    accepted = client.post("/api/v1/bots", json=body, headers=project.headers)
    assert accepted.status_code == 201, accepted.text
    other = create_project(ctx, "no-keys")
    assert client.post("/api/v1/bots", json=body, headers=other.headers).status_code == 400
