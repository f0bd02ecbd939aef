"""Run ``sitin serve`` as a real subprocess: a free 127.0.0.1 port, an environment of its own,
wait for /health, stop it (SIGTERM) or see it die (the fault hook SIGKILLs it)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

SITIN = Path(sys.executable).with_name("sitin")
FIRST_START_KEY = re.compile(r"Authorization: Token (\S+)")  # printed by a first start


def free_port() -> int:
    """A port nothing listens on right now (the kernel's choice for an ephemeral bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerProcess:
    process: subprocess.Popen
    url: str
    log_path: Path

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, **kwargs)

    def wait_for_exit(self, timeout_s: float = 30.0) -> int:
        return self.process.wait(timeout=timeout_s)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    env: dict[str, str],
    log_path: Path,
    start_timeout_s: float = 60.0,
    args: Sequence[str] = (),
    *,
    wrapper: Sequence[str] = (),
) -> ServerProcess:
    """Start ``sitin serve [args]`` with ``env`` (SITIN_* settings) on top of the current
    environment; ``wrapper`` runs it (``sitin serve`` appended as its last arguments)."""
    port = free_port()
    full_env = {**os.environ, **env, "SITIN_HOST": "127.0.0.1", "SITIN_PORT": str(port)}
    log = log_path.open("ab")
    process = subprocess.Popen(
        [*wrapper, str(SITIN), "serve", *args], env=full_env, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    server = ServerProcess(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + start_timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"sitin serve exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"sitin serve did not become healthy:\n{server.log()}")
        time.sleep(0.05)


@contextmanager
def running_server(
    env: dict[str, str],
    log_path: Path,
    args: Sequence[str] = (),
    *,
    wrapper: Sequence[str] = (),
) -> Iterator[ServerProcess]:
    """A started server that is stopped when the block ends, whatever happened inside."""
    server = start_server(env, log_path, args=args, wrapper=wrapper)
    try:
        yield server
    finally:
        server.stop()


def children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def worker_children(pid: int) -> list[int]:
    """The bot workers among ``pid``'s children (``sitin serve`` also starts API processes)."""
    workers = []
    for child in children(pid):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"worker" in argv:
            workers.append(child)
    return workers


def alive(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


def wait_for(condition, what: str, timeout_s: float = 60.0, explain=None):
    """Poll ``condition`` until truthy; on timeout the error includes ``explain()`` (what the
    test saw instead) when given."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    seen = f": {explain()}" if explain is not None else ""
    raise AssertionError(f"timed out waiting for {what}{seen}")
