"""The PostgreSQL pool keeps its connections: sized to the threads that use the database at once,
so a burst of concurrent requests opens connections once and later bursts reuse them (a new
PostgreSQL connection is a backend process start, most of the CPU a request would cost)."""

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy import event, text

import sitin.db.engine as engine_module
from sitin.bootstrap import build_context, database_pool_size
from support.settings import make_settings

CONCURRENCY = 32


def _bursts(db, rounds: int) -> list[int]:
    """``rounds`` bursts of CONCURRENCY threads that each hold a connection at the same time;
    the number of new connections each burst opened."""
    opened = []
    event.listen(db.read_engine, "connect", lambda *_: opened.append(1))
    per_round = []
    for _ in range(rounds):
        before = len(opened)
        together = threading.Barrier(CONCURRENCY, timeout=60)

        def read(together: threading.Barrier = together) -> None:
            with db.read() as conn:
                together.wait()  # every thread holds its connection at once
                conn.execute(text("select 1"))

        threads = [threading.Thread(target=read) for _ in range(CONCURRENCY)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        per_round.append(len(opened) - before)
    return per_round


def test_bursts_reuse_the_connections_the_first_burst_opened(tmp_path, postgres_database):
    ctx = build_context(make_settings(tmp_path, postgres_database), migrate=False)
    try:
        assert _bursts(ctx.db, rounds=3) == [CONCURRENCY, 0, 0]
    finally:
        ctx.close()


def test_the_pool_size_is_a_setting(tmp_path, postgres_database):
    settings = make_settings(tmp_path, postgres_database, database_pool_size=5)
    ctx = build_context(settings, migrate=False)
    try:
        assert ctx.db.read_engine.pool.size() == 5
        with ctx.db.read() as conn:
            assert conn.execute(text("select 1")).scalar_one() == 1
    finally:
        ctx.close()


@pytest.mark.parametrize("run_bots", [False, True])
def test_the_default_covers_every_thread_of_the_process(tmp_path, run_bots):
    settings = make_settings(tmp_path, "sqlite://")
    size = database_pool_size(settings, run_bots=run_bots)
    threads = settings.api_threads + settings.api_read_threads + settings.worker_threads
    assert size >= threads + (settings.max_bots_per_worker if run_bots else 0)


def test_a_pooled_connection_the_server_dropped_is_replaced(
    tmp_path, postgres_database, monkeypatch
):
    """A connection idle long enough is pinged before use: one the server closed meanwhile (a
    restart, a firewall's idle timeout) is replaced instead of failing the request."""
    ctx = build_context(make_settings(tmp_path, postgres_database), migrate=False)
    try:
        with ctx.db.read() as conn:
            backend = conn.execute(text("select pg_backend_pid()")).scalar_one()
        admin = sa.create_engine(postgres_database, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("select pg_terminate_backend(:pid)"), {"pid": backend})
        admin.dispose()
        monkeypatch.setattr(engine_module, "IDLE_PING_SECONDS", 0.0)  # it has been idle enough
        with ctx.db.read() as conn:
            assert conn.execute(text("select pg_backend_pid()")).scalar_one() != backend
        with ctx.db.write() as tx:
            assert tx.conn.execute(text("select 1")).scalar_one() == 1
    finally:
        ctx.close()
