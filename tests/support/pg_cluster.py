"""A throwaway PostgreSQL cluster of a test's own: ``initdb`` into a fresh directory, ``postgres``
on a free 127.0.0.1 port with its unix socket beside the data, stopped and removed by the test.
Its data directory (heap files under ``base/``, WAL segments under ``pg_wal/``) belongs to this
test alone, so its bytes can be scanned: nothing another test or developer wrote is in it.

PostgreSQL refuses to run as root. Run as root (CI), the cluster runs as the ``postgres`` user in
a directory that user owns under the system temp directory (pytest's temporary directories sit
in a 0700 folder of root's, which pytest resets at every session start); otherwise it lives in
the test's ``tmp_path``."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from support.process import free_port

BIN_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "sitin"  # the cluster's bootstrap superuser, as in the shared server's URL


class ClusterUnavailable(RuntimeError):
    """The PostgreSQL server binaries (or the postgres user, when run as root) are missing."""


def server_binaries() -> Path:
    """The ``bin`` directory of the newest PostgreSQL installed (Debian's layout)."""
    found = sorted(
        (p.parent for p in BIN_ROOT.glob("*/bin/postgres") if (p.parent / "initdb").exists()),
        key=lambda path: [int(part) for part in path.parent.name.split(".") if part.isdigit()],
    )
    if not found:
        raise ClusterUnavailable(f"no PostgreSQL server under {BIN_ROOT}/*/bin (initdb, postgres)")
    return found[-1]


@dataclass
class Cluster:
    data_dir: Path
    url: str
    log_path: Path

    def sql(self, statement: str) -> None:
        """Run one statement outside a transaction (CHECKPOINT, VACUUM)."""
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(statement)
        finally:
            engine.dispose()

    def checkpoint(self) -> None:
        """Write every dirty buffer to the heap files (and the WAL up to here is flushed)."""
        self.sql("CHECKPOINT")

    def files(self) -> Iterator[Path]:
        """Every file of the cluster where table data can be: heap and index files, the WAL."""
        for part in ("base", "global", "pg_wal"):
            yield from (p for p in (self.data_dir / part).rglob("*") if p.is_file())


def _owner() -> dict:
    """Popen arguments that run a command as the owner of the cluster."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ClusterUnavailable("running as root, but there is no postgres user") from None
    return {"user": "postgres", "group": "postgres"}


def _cluster_root(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        root = tmp_path / "postgresql"
        root.mkdir()
        return root
    root = Path(tempfile.mkdtemp(prefix="sitin-test-pg-"))
    account = pwd.getpwnam("postgres")
    os.chown(root, account.pw_uid, account.pw_gid)
    return root


def _start(bin_dir: Path, data_dir: Path, socket_dir: Path, log_path: Path, port: int):
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data_dir),
                "-p",
                str(port),
                "-k",
                str(socket_dir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",  # a test's cluster: durability across power loss is not the point
                "-c",
                "max_connections=60",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            **_owner(),
        )


def _wait_ready(process: subprocess.Popen, url: str, timeout_s: float = 60.0) -> bool:
    """True once the server accepts connections; False if it exited (its port was taken)."""
    deadline = time.monotonic() + timeout_s
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            try:
                with engine.connect():
                    return True
            except sa.exc.OperationalError:
                with suppress(subprocess.TimeoutExpired):  # wake on its exit, else look again
                    process.wait(timeout=0.1)
    finally:
        engine.dispose()
    raise AssertionError(f"the test's PostgreSQL did not accept connections in {timeout_s} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # fast shutdown: roll back, checkpoint, exit
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def throwaway_cluster(tmp_path: Path, database: str = "sitin") -> Iterator[Cluster]:
    """A running cluster with an empty ``database`` owned by its superuser; stopped and its
    directory removed afterwards. Raises ClusterUnavailable when PostgreSQL is not installed."""
    bin_dir = server_binaries()
    owner = _owner()
    root = _cluster_root(tmp_path)
    data_dir, socket_dir = root / "data", root / "run"
    log_path = tmp_path / "postgresql.log"
    try:
        for path in (data_dir, socket_dir):
            path.mkdir(mode=0o700)
            if owner:
                shutil.chown(path, owner["user"], owner["group"])
        subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",  # reachable only on 127.0.0.1 and a socket in a 0700 folder
                "--encoding=UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            **owner,
        )
        for _attempt in range(5):
            port = free_port()
            admin = f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/postgres"
            process = _start(bin_dir, data_dir, socket_dir, log_path, port)
            try:
                if _wait_ready(process, admin):
                    break
            except BaseException:
                _stop(process)
                raise
        else:
            raise AssertionError(f"the test's PostgreSQL did not start: see {log_path}")
        try:
            url = f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/{database}"
            Cluster(data_dir, admin, log_path).sql(f'CREATE DATABASE "{database}"')
            yield Cluster(data_dir, url, log_path)
        finally:
            _stop(process)
    finally:
        shutil.rmtree(root, ignore_errors=True)
