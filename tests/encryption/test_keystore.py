"""The key store: one key per bot, destroyed for good, no key bytes left in its files."""

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from sitin.encryption import ContentUnreadable, KeyDestroyed, KeyStore, MasterKeys
from sitin.encryption.keystore import DESTROYED, LIVE, data_keys


@pytest.fixture(params=["sqlite", "postgres"])
def keystore_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'keys.db'}"
    url = request.getfixturevalue("postgres_database")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        data_keys.drop(conn, checkfirst=True)
    engine.dispose()
    return url


def store(url: str, secret: str = "master", previous: tuple[str, ...] = ()) -> KeyStore:
    return KeyStore(url, MasterKeys.from_secrets(secret, previous))


def test_one_key_per_bot_seen_by_every_process(keystore_url):
    first, second = store(keystore_url), store(keystore_url)
    key = first.key_for_writing("bot_a")
    assert first.key_for_writing("bot_a") is key  # cached
    assert second.key_for_reading("bot_a").material == key.material
    assert first.key_for_reading("bot_b") is None  # nothing sealed for it yet
    assert first.status() == {"bot_a": LIVE}
    first.dispose(), second.dispose()


def test_concurrent_first_writes_agree_on_one_key(keystore_url):
    stores = [store(keystore_url) for _ in range(4)]
    found: list[bytes] = []
    threads = [
        threading.Thread(target=lambda s=s: found.append(s.key_for_writing("bot_a").material))
        for s in stores
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(found)) == 1
    for s in stores:
        s.dispose()


def test_a_destroyed_key_is_gone_and_never_created_again(keystore_url):
    keys, other = store(keystore_url), store(keystore_url)
    keys.key_for_writing("bot_a")
    keys.key_for_writing("bot_b")
    other.key_for_reading("bot_a")  # another process has it cached
    keys.destroy("bot_a")
    keys.destroy("bot_a")  # idempotent
    assert keys.key_for_reading("bot_a") is None
    with pytest.raises(KeyDestroyed):
        keys.key_for_writing("bot_a")
    other.forget_cached()  # what the cache's expiry does in time
    with pytest.raises(KeyDestroyed):
        other.key_for_writing("bot_a")
    assert keys.status() == {"bot_a": DESTROYED, "bot_b": LIVE}
    keys.destroy("bot_never_had_one")  # a tombstone, so none is made later
    with pytest.raises(KeyDestroyed):
        keys.key_for_writing("bot_never_had_one")
    keys.dispose(), other.dispose()


def test_a_destruction_begun_is_final_only_once_committed(keystore_url):
    """delete_data begins destroying the key during its fence and commits once the fence has:
    abandoned (the fence failed), the key stays; committed from another thread, it is gone."""
    keys, other = store(keystore_url), store(keystore_url)
    material = keys.key_for_writing("bot_a").material
    begun = keys.begin_destroying("bot_a")
    assert other.key_for_reading("bot_a").material == material  # not final yet
    begun.abandon()
    keys.forget_cached()
    assert keys.key_for_reading("bot_a").material == material
    assert keys.status(["bot_a"]) == {"bot_a": LIVE}

    begun = keys.begin_destroying("bot_a")
    committer = threading.Thread(target=begun.commit)
    committer.start()
    committer.join()
    assert keys.key_for_reading("bot_a") is None  # seen at once here
    other.forget_cached()
    assert other.key_for_reading("bot_a") is None
    assert keys.status(["bot_a"]) == {"bot_a": DESTROYED}
    keys.dispose(), other.dispose()


def test_destroyed_at_asks_the_store_once_per_bot_and_sees_destruction(keystore_url):
    """Every API read asks whether its bots' keys are destroyed: the answer "not destroyed" is
    kept for the cache's lifetime (no query per request), one destroyed here is seen at once and
    one destroyed by another process once the cached answer expires."""
    keys, other = store(keystore_url), store(keystore_url)
    keys.key_for_writing("bot_a")
    other.key_for_writing("bot_b")
    queries: list[str] = []
    sa.event.listen(keys.engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
    assert keys.destroyed_at(["bot_b", "bot_never_had_one"]) == {}
    assert len(queries) == 1
    assert keys.destroyed_at(["bot_a", "bot_b", "bot_never_had_one"]) == {}
    assert len(queries) == 1  # bot_a's key is cached live; the others' answer is kept
    keys.destroy("bot_never_had_one")  # here: seen at once
    assert set(keys.destroyed_at(["bot_b", "bot_never_had_one"])) == {"bot_never_had_one"}
    other.destroy("bot_b")  # in another process: seen when the kept answer expires
    assert keys.destroyed_at(["bot_b"]) == {}
    keys.forget_cached()  # what the cache's expiry does in time
    destroyed = keys.destroyed_at(["bot_a", "bot_b"])
    assert set(destroyed) == {"bot_b"}
    assert destroyed["bot_b"].tzinfo is not None
    keys.dispose(), other.dispose()


def test_no_byte_of_a_destroyed_key_remains_in_the_sqlite_files(tmp_path):
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    keys = store(url)
    keys.key_for_writing("bot_a")
    with keys.engine.connect() as conn:
        wrapped = conn.execute(sa.select(data_keys.c.wrapped)).scalar_one()

    def on_disk() -> bytes:
        return b"".join(p.read_bytes() for p in tmp_path.glob("keys.db*"))

    assert wrapped in on_disk()
    keys.destroy("bot_a")
    assert wrapped not in on_disk()
    assert (tmp_path / "keys.db-wal").stat().st_size == 0  # checkpointed and truncated
    keys.dispose()


def test_a_destruction_scrubbed_later_is_caught_up_by_the_next_process(tmp_path):
    """delete_data destroys without scrubbing (it scrubs after answering); a process killed in
    between leaves the key's old bytes in the file, which the next process's journal job
    (scrub_if_due, run at start) removes."""
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    keys = store(url)
    keys.key_for_writing("bot_a")
    keys.scrub()  # the key's creation folded into the main file, as after any earlier deletion
    with keys.engine.connect() as conn:
        wrapped = conn.execute(sa.select(data_keys.c.wrapped)).scalar_one()

    def on_disk() -> bytes:
        return b"".join(p.read_bytes() for p in tmp_path.glob("keys.db*"))

    keys.destroy("bot_a", scrub=False)
    assert keys.key_for_reading("bot_a") is None  # gone for every reader already
    assert wrapped in on_disk()  # the old page, until the scrub
    assert keys.scrub_if_due() is True
    assert wrapped not in on_disk()
    assert keys.scrub_if_due() is False  # nothing destroyed since
    keys.dispose()

    killed = store(url)
    killed.key_for_writing("bot_b")
    killed.scrub()
    with killed.engine.connect() as conn:
        wrapped_b = conn.execute(
            sa.select(data_keys.c.wrapped).where(data_keys.c.bot_id == "bot_b")
        ).scalar_one()
    killed.destroy("bot_b", scrub=False)
    # Killed here: its connections stay open (closing the last one would checkpoint, which a
    # SIGKILL never does), and another process starts.
    restarted = store(url)
    assert wrapped_b in on_disk()
    assert restarted.scrub_if_due() is True  # due at start: it cannot know what was left
    assert wrapped_b not in on_disk()
    restarted.dispose()
    killed.dispose()


def test_rotating_the_master_key_rewraps_every_live_key(keystore_url):
    old = store(keystore_url, "old")
    material = old.key_for_writing("bot_a").material
    old.key_for_writing("bot_b")
    old.destroy("bot_b")
    old.dispose()
    rotated = store(keystore_url, "new", ("old",))
    assert rotated.rewrap() == 1
    rotated.dispose()
    fresh = store(keystore_url, "new")  # the old master may now be dropped
    assert fresh.key_for_reading("bot_a").material == material
    fresh.dispose()
    with pytest.raises(ContentUnreadable, match="not configured"):
        store(keystore_url, "old").key_for_reading("bot_a")


def test_sitin_keystore_rewrap_moves_keys_to_the_new_master(tmp_path, sqlite_url):
    from click.testing import CliRunner

    from sitin.cli import main as sitin_cli

    data_dir = tmp_path / "data"
    url = f"sqlite:///{data_dir / 'keys.db'}"
    data_dir.mkdir()
    old = store(url, "old")
    material = old.key_for_writing("bot_a").material
    old.dispose()
    env = {
        "SITIN_DATA_DIR": str(data_dir),
        "SITIN_DATABASE_URL": sqlite_url,
        "SITIN_SECRET_KEY": "test-secret",
        "SITIN_MASTER_KEY": "new",
        "SITIN_PREVIOUS_MASTER_KEYS": "old",
    }
    result = CliRunner().invoke(sitin_cli, ["keystore", "rewrap"], env=env)
    assert result.exit_code == 0, result.output
    assert "rewrapped 1 data key(s)" in result.output
    rotated = store(url, "new")  # the old master is no longer needed
    assert rotated.key_for_reading("bot_a").material == material
    rotated.dispose()


def test_a_scrub_that_readers_keep_from_completing_stays_due(tmp_path):
    """A reader still on the WAL keeps the checkpoint from dropping a destroyed key's old bytes:
    scrub says so, and the scrub stays due for the periodic job instead of counting as done."""
    path = tmp_path / "keys.db"
    keys = store(f"sqlite:///{path}")
    sa.event.listen(  # after the store's own settings: do not wait 30 s for the reader
        keys.engine, "connect", lambda conn, _record: conn.execute("PRAGMA busy_timeout=100")
    )
    keys.key_for_writing("bot_a")
    keys.key_for_writing("bot_b")
    assert keys.scrub() is True
    keys.destroy("bot_a", scrub=False)
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM sitin_data_keys").fetchone() == (2,)
        assert keys.scrub() is False  # the reader's snapshot is in the WAL
        assert keys.scrub_if_due() is True  # still due: it tried again
    finally:
        reader.execute("COMMIT")
        reader.close()
    assert keys.scrub_if_due() is True
    assert keys.scrub_if_due() is False  # done now
    assert (tmp_path / "keys.db-wal").stat().st_size == 0
    keys.dispose()
