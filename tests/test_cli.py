"""The real ``sitin`` command in subprocesses: projects, keys, and a server that accepts the keys
the CLI makes against the same data directory."""

import os
import re
import signal
import socket
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
