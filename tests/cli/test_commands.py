"""The real ``sitin`` command in subprocesses: projects, keys, and a server that accepts the keys
the CLI makes against the same data directory."""

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

SITIN = Path(sys.executable).with_name("sitin")
KEY = re.compile(r"[A-Za-z0-9]{32}")
FIRST_START_KEY = re.compile(r"Authorization: Token ([A-Za-z0-9]{32})")
START_TIMEOUT = 90.0


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITIN_")}
    return {**env, "SITIN_DATA_DIR": str(data_dir)}


def sitin(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(SITIN), *args], env=_env(data_dir), capture_output=True, text=True, timeout=120
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``sitin serve`` on 127.0.0.1, its stdout in a file so the first-start key can be read."""

    def __init__(self, data_dir: Path, log: Path):
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "w") as out:
            self.process = subprocess.Popen(
                [str(SITIN), "serve", "--port", str(self.port), "--data-dir", str(data_dir)],
                env=_env(data_dir),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                if httpx.get(f"{self.base_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError(f"sitin serve did not come up:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text()

    def get_bots(self, key: str) -> httpx.Response:
        return httpx.get(
            f"{self.base_url}/api/v1/bots", headers={"Authorization": f"Token {key}"}, timeout=30
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def start_server(tmp_path):
    servers: list[Server] = []

    def start(data_dir: Path) -> Server:
        server = Server(data_dir, tmp_path / f"serve-{len(servers)}.log")
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_cli_refusals(tmp_path):
    data = tmp_path / "data"
    assert "created project acme" in sitin(data, "projects", "create", "acme").stdout
    duplicate = sitin(data, "projects", "create", "acme", check=False)
    assert duplicate.returncode != 0 and "already exists" in duplicate.stderr
    unknown = sitin(data, "keys", "create", "--project", "nope", check=False)
    assert unknown.returncode != 0 and "no project named 'nope'" in unknown.stderr
    revoke = sitin(data, "keys", "revoke", "key_AAAAAAAAAAAAAAAA", check=False)
    assert revoke.returncode != 0 and "no active key" in revoke.stderr


def test_server_accepts_keys_made_by_the_cli_and_prints_the_default_key_once(
    tmp_path, start_server
):
    data = tmp_path / "data"
    server = start_server(data)
    first_key = FIRST_START_KEY.search(server.output()).group(1)
    assert server.get_bots(first_key).status_code == 200

    assert "created project p" in sitin(data, "projects", "create", "p").stdout
    made = sitin(data, "keys", "create", "--project", "p")
    cli_key = made.stdout.splitlines()[-1]
    assert KEY.fullmatch(cli_key), made.stdout
    assert made.stdout.strip() == cli_key  # alone on stdout; the explanation goes to stderr
    response = server.get_bots(cli_key)
    assert response.status_code == 200 and response.json()["results"] == []

    key_id = re.search(r"key_[A-Za-z0-9]{16}", made.stderr).group(0)
    listing = sitin(data, "keys", "list").stdout
    line = next(row for row in listing.splitlines() if row.startswith(key_id))
    assert "project=p" in line and line.endswith("active")
    assert cli_key not in listing and first_key not in listing

    assert f"revoked {key_id}" in sitin(data, "keys", "revoke", key_id).stdout
    assert server.get_bots(cli_key).status_code == 401
    line = next(row for row in sitin(data, "keys", "list").stdout.splitlines() if key_id in row)
    assert "revoked" in line
    server.stop()
    assert server.process.returncode is not None

    second = start_server(data)
    assert "Authorization: Token" not in second.output()
    assert first_key not in second.output()
    assert second.get_bots(first_key).status_code == 200
    second.stop()


READ_COMMANDS = [
    ["projects", "list"],
    ["projects", "set-retention", "acme", "60"],
    ["keys", "list"],
    ["keys", "create", "--project", "acme"],
    ["keys", "revoke", "key_AAAAAAAAAAAAAAAA"],
    ["credentials", "list", "--project", "acme"],
    ["webhooks", "list"],
    ["webhooks", "secret", "show"],
    ["deletion", "verify", "bot_AAAAAAAAAAAAAAAA"],
    ["storage", "audit"],
    ["worker"],
    ["workers"],
]


def _in_process(*args: str, env: dict[str, str | None] | None = None):
    from click.testing import CliRunner

    from sitin.cli import main

    clean = {name: None for name in os.environ if name.startswith("SITIN_")}
    return CliRunner().invoke(main, list(args), env={**clean, **(env or {})})


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_read_commands_refuse_a_data_dir_that_does_not_exist(tmp_path, command):
    missing = tmp_path / "no-such-dir"
    for args in (["--data-dir", str(missing), *command], [*command, "--data-dir", str(missing)]):
        result = _in_process(*args)
        assert result.exit_code == 1, result.output
        assert f"there is no sitin data directory at {missing}" in result.output
        assert "given by --data-dir" in result.output and "SITIN_DATA_DIR" in result.output
        assert not missing.exists()


def test_the_default_data_dir_is_named_when_it_is_missing(tmp_path):
    result = _in_process("keys", "list", env={"XDG_DATA_HOME": str(tmp_path)})
    assert result.exit_code == 1
    assert f"no sitin data directory at {tmp_path / 'sitin'}" in result.output
    assert "the default" in result.output
    assert not (tmp_path / "sitin").exists()
    from_env = _in_process("keys", "list", env={"SITIN_DATA_DIR": str(tmp_path / "env")})
    assert "given by SITIN_DATA_DIR" in from_env.output


def test_a_missing_database_file_is_refused_by_name(tmp_path):
    (tmp_path / "data").mkdir()
    result = _in_process("projects", "list", "--data-dir", str(tmp_path / "data"))
    assert result.exit_code == 1
    assert f"no sitin database at {tmp_path / 'data' / 'sitin.db'}" in result.output
    assert "sitin migrate" in result.output


def test_data_dir_before_or_after_the_command_name(tmp_path):
    data = str(tmp_path / "data")
    before_name = sitin_at(data, "--data-dir", data, "projects", "create", "acme")
    after_name = sitin_at(data, "projects", "create", "beta", "--data-dir", data)
    assert "created project acme" in before_name and "created project beta" in after_name
    made = sitin_at(data, "keys", "--data-dir", data, "create", "--project", "beta")
    assert KEY.fullmatch(made.strip())
    before = sitin_at(data, "--data-dir", data, "projects", "list")
    after = sitin_at(data, "projects", "list", "--data-dir", data)
    assert before == after and "acme" in before and "beta" in before
    # Given twice, the one nearer the command wins.
    other = tmp_path / "other"
    nearer = _in_process("--data-dir", str(other), "projects", "list", "--data-dir", data)
    assert nearer.exit_code == 0 and "acme" in nearer.output and not other.exists()


def sitin_at(data_dir: str, *args: str) -> str:
    """The real command in a subprocess, with no SITIN_* variable: only the flags choose."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITIN_")}
    env["XDG_DATA_HOME"] = str(Path(data_dir).parent / "xdg")  # never the user's own
    result = subprocess.run(
        [str(SITIN), *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_migrate_creates_a_new_data_dir_and_read_commands_then_work(tmp_path):
    data = tmp_path / "new" / "data"
    migrated = sitin_at(str(data), "migrate", "--data-dir", str(data))
    assert "database is up to date" in migrated and (data / "sitin.db").is_file()
    assert sitin_at(str(data), "projects", "list", "--data-dir", str(data)) == ""
    assert not (tmp_path / "new" / "xdg").exists()  # nothing went to the default place


def test_creating_commands_create_what_is_missing_privately_read_commands_refuse(tmp_path):
    """migrate and projects create make a missing data directory (0700, files 0600) and the
    folder of a SITIN_DATABASE_URL file; a read command on the same missing places refuses."""
    for number, creating in enumerate((["migrate"], ["projects", "create", "acme"])):
        data = tmp_path / f"new-{number}" / "data"
        database = tmp_path / f"elsewhere-{number}" / "deeper" / "sitin.db"
        env = {"SITIN_DATABASE_URL": f"sqlite:///{database}"}
        refused = _in_process("projects", "list", "--data-dir", str(data), env=env)
        assert refused.exit_code == 1 and not data.exists() and not database.parent.exists()
        made = _in_process(*creating, "--data-dir", str(data), env=env)
        assert made.exit_code == 0, made.output
        assert database.is_file() and stat.S_IMODE(database.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert stat.S_IMODE(database.stat().st_mode) == 0o600
        listed = _in_process("projects", "list", "--data-dir", str(data), env=env)
        assert listed.exit_code == 0, listed.output
    data = tmp_path / "plain"
    assert _in_process("migrate", "--data-dir", str(data)).exit_code == 0
    assert stat.S_IMODE((data / "sitin.db").stat().st_mode) == 0o600


def test_a_bad_provider_endpoint_stops_the_server_at_start(tmp_path):
    bad = {"SITIN_OPENAI_API_KEY": "sk", "SITIN_OPENAI_BASE_URL": "api.example"}
    result = _in_process("serve", "--data-dir", str(tmp_path), env=bad)
    assert result.exit_code == 1, result.output
    assert "invalid configuration: SITIN_OPENAI_BASE_URL must be an http(s) URL" in result.output
