"""Provider accounts: key (encrypted) and endpoint stored through the CLI, required at bot
creation, never shown; a bot cannot choose where the project's key is sent."""

import os
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import update

from sitin.bootstrap import build_context
from sitin.config import Settings
from sitin.core.transcription_settings import ProviderAccount
from sitin.crypto import box
from sitin.db import credentials, projects
from sitin.db.tables import projects as projects_table
from support.projects import create_project

SECRET = "sk-test-DO-NOT-LEAK-1234567890"


def sitin(data_dir, *args, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "SITIN_DATA_DIR": str(data_dir), "SITIN_SECRET_KEY": "server-secret"}
    for name in ("SITIN_OPENAI_API_KEY", "SITIN_OPENAI_BASE_URL"):
        env.pop(name, None)
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
        accounts = credentials.accounts_for(
            conn, server_key=b"server-secret", project_id=project_id
        )
    assert accounts == {"openai": ProviderAccount(SECRET, base_url=None)}

    removed = sitin(data_dir, "credentials", "remove", "--project", "acme", "openai")
    assert removed.returncode == 0
    assert sitin(data_dir, "credentials", "list", "--project", "acme").stdout.strip() == ""


def test_cli_stores_an_endpoint_with_the_key_and_never_prints_it(tmp_path):
    data_dir = tmp_path / "data"
    endpoint = "http://10.1.2.3:8000/v1"
    assert sitin(data_dir, "projects", "create", "acme").returncode == 0

    set_openai = ("credentials", "set", "--project", "acme", "openai")
    refused = sitin(data_dir, *set_openai, "--base-url", "ftp://10.1.2.3/v1", stdin=SECRET)
    assert refused.returncode != 0
    assert "base URL must be an http(s) URL" in refused.stderr

    stored = sitin(data_dir, *set_openai, "--base-url", f"{endpoint}/", stdin=SECRET)
    assert stored.returncode == 0, stored.stderr
    listed = sitin(data_dir, "credentials", "list", "--project", "acme")
    for output in (stored, listed):
        assert SECRET not in output.stdout + output.stderr
        assert "10.1.2.3" not in output.stdout + output.stderr
    assert listed.stdout.split() == ["openai"]
    raw = sqlite3.connect(data_dir / "sitin.db").execute("SELECT settings FROM projects").fetchall()
    assert SECRET not in str(raw) and "10.1.2.3" not in str(raw)  # the endpoint is encrypted too

    ctx = build_context(Settings(data_dir=data_dir, secret_key="server-secret"))
    with ctx.db.read() as conn:
        project_id = projects.get_by_name(conn, name="acme")["id"]
        accounts = credentials.accounts_for(
            conn, server_key=b"server-secret", project_id=project_id
        )
    assert accounts == {"openai": ProviderAccount(SECRET, base_url=endpoint)}

    # setting the key again without --base-url goes back to the provider's own endpoint
    assert sitin(data_dir, *set_openai, stdin=SECRET).returncode == 0
    with ctx.db.read() as conn:
        accounts = credentials.accounts_for(
            conn, server_key=b"server-secret", project_id=project_id
        )
    assert accounts["openai"].base_url is None


def test_accounts_stored_by_earlier_versions_still_work(ctx, project):
    token = box(ctx.settings.resolved_secret_key, credentials.PURPOSE).encrypt(SECRET.encode())
    earlier = {
        "deepgram": token.decode(),  # before endpoints existed
        "openai": {"key": token.decode(), "base_url": "http://10.0.0.9/v1"},  # endpoint in clear
    }
    with ctx.db.write() as tx:
        tx.conn.execute(
            update(projects_table)
            .where(projects_table.c.id == project.id)
            .values(settings={"credentials": earlier})
        )
    with ctx.db.read() as conn:
        accounts = credentials.accounts_for(
            conn, server_key=ctx.settings.resolved_secret_key, project_id=project.id
        )
        assert credentials.providers_with_keys(conn, project_id=project.id) == [
            "deepgram",
            "openai",
        ]
    assert accounts == {
        "deepgram": ProviderAccount(SECRET),
        "openai": ProviderAccount(SECRET, base_url="http://10.0.0.9/v1"),
    }


def test_unknown_project_is_a_clear_error(tmp_path):
    assert sitin(tmp_path, "migrate").returncode == 0
    result = sitin(tmp_path, "credentials", "set", "--project", "nope", "openai", stdin="k")
    assert result.returncode != 0
    assert "no project named 'nope'" in result.stderr


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


@pytest.mark.parametrize("provider", ["openai", "deepgram"])
def test_a_bot_cannot_choose_where_the_projects_key_is_sent(ctx, client, project, provider):
    with ctx.db.write() as tx:
        credentials.set_key(
            tx.conn,
            server_key=ctx.settings.resolved_secret_key,
            project_id=project.id,
            provider=provider,
            api_key=SECRET,
        )
    body = {
        "meeting_url": "http://127.0.0.1:8000/rooms/a",
        "bot_name": "B",
        "transcription_settings": {provider: {"model": "m", "base_url": "https://evil"}},
    }
    refused = client.post("/api/v1/bots", json=body, headers=project.headers)
    assert refused.status_code == 400
    (message,) = refused.json()["transcription_settings"]
    assert f"transcription_settings.{provider}.base_url is not accepted" in message
    assert f"sitin credentials set --project <project> {provider} --base-url" in message
    listed = client.get("/api/v1/bots", headers=project.headers).json()
    assert listed["results"] == []


def test_the_key_check_follows_the_provider_that_wins(ctx, client, project):
    body = {
        "meeting_url": "http://127.0.0.1:8000/rooms/a",
        "bot_name": "B",
        "transcription_settings": {"offline": {}, "deepgram": {}},
    }
    refused = client.post("/api/v1/bots", json=body, headers=project.headers)
    assert refused.status_code == 400
    assert "Transcription provider deepgram needs an API key" in refused.json()["error"]
    record_only = {**body, "transcription_settings": {"none": {}}}
    assert client.post("/api/v1/bots", json=record_only, headers=project.headers).status_code == 201


@pytest.mark.parametrize("settings_overrides", [{"openai_api_key": "sk-operator"}])
def test_the_operators_account_serves_projects_without_their_own(ctx, client, project):
    body = {
        "meeting_url": "http://127.0.0.1:8000/rooms/a",
        "bot_name": "B",
        "transcription_settings": {"openai": {"model": "whisper-1"}},
    }
    accepted = client.post("/api/v1/bots", json=body, headers=project.headers)
    assert accepted.status_code == 201, accepted.text
    deepgram = {**body, "transcription_settings": {"deepgram": {}}}  # no operator key for it
    refused = client.post("/api/v1/bots", json=deepgram, headers=project.headers)
    assert "needs an API key" in refused.json()["error"]
