"""Blobs at rest are sealed in every store; downloads stream the plaintext, with ranges."""

import os
import stat

import pytest

from sitin.api.blobs import parse_range
from sitin.encryption import ContentUnreadable

PLAIN = b"ID3" + b"meeting audio " * 40_000  # ~560 kB: several chunks


def stored_bytes(ctx, key: str) -> bytes:
    return b"".join(ctx.blobs.backend.read_range(key, 0, ctx.blobs.backend.size(key)))


def test_blobs_are_sealed_at_rest_and_read_back_whole(ctx):
    key = "bots/bot_aaaaaaaaaaaaaaaa/recording.mp3"
    assert ctx.blobs.put_bytes(key, PLAIN) == len(PLAIN)
    assert b"meeting audio" not in stored_bytes(ctx, key)
    assert ctx.blobs.get_bytes(key) == PLAIN
    source = ctx.settings.data_dir / "work" / "rec.mp3"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(PLAIN)
    other = "bots/bot_aaaaaaaaaaaaaaaa/recording2.mp3"
    assert ctx.blobs.put_file(other, source) == len(PLAIN)
    assert ctx.blobs.get_bytes(other) == PLAIN
    assert list(source.parent.iterdir()) == [source]  # the sealed copy was removed
    with pytest.raises(ValueError):
        ctx.blobs.put_bytes("elsewhere/file", b"x")  # every blob belongs to a bot


def test_a_destroyed_key_makes_blobs_unreadable(ctx):
    key = "bots/bot_bbbbbbbbbbbbbbbb/a.wav"
    ctx.blobs.put_bytes(key, PLAIN)
    ctx.keys.destroy("bot_bbbbbbbbbbbbbbbb")
    with pytest.raises(ContentUnreadable):
        ctx.blobs.get_bytes(key)
    with pytest.raises(ContentUnreadable):
        ctx.blobs.open(key)


def _download(client, ctx, key, **headers):
    return client.get(ctx.blobs.download_url(key, expires_in=60), headers=headers)


def test_download_link_streams_plaintext_and_supports_ranges(ctx, client):
    key = "bots/bot_cccccccccccccccc/recording.mp3"
    ctx.blobs.put_bytes(key, PLAIN)
    whole = _download(client, ctx, key)
    assert whole.status_code == 200 and whole.content == PLAIN
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "audio/mpeg"
    part = _download(client, ctx, key, Range="bytes=300000-300099")
    assert part.status_code == 206 and part.content == PLAIN[300000:300100]
    assert part.headers["content-range"] == f"bytes 300000-300099/{len(PLAIN)}"
    tail = _download(client, ctx, key, Range="bytes=-10")
    assert tail.status_code == 206 and tail.content == PLAIN[-10:]
    bad = _download(client, ctx, key, Range=f"bytes={len(PLAIN)}-")
    assert bad.status_code == 416 and bad.headers["content-range"] == f"bytes */{len(PLAIN)}"
    forged = client.get(
        ctx.blobs.download_url(key, expires_in=60).replace("signature=", "signature=0")
    )
    assert forged.status_code == 403


def test_download_of_unreadable_blob_is_a_clear_404_not_a_500(ctx, client, caplog):
    key = "bots/bot_dddddddddddddddd/recording.mp3"
    ctx.blobs.put_bytes(key, PLAIN)
    path = ctx.settings.data_dir / "blobs" / key
    data = bytearray(path.read_bytes())
    data[40] ^= 0xFF  # corrupt the first chunk
    path.write_bytes(bytes(data))
    response = _download(client, ctx, key)
    assert response.status_code == 404
    assert "can no longer be read" in response.json()["error"]
    assert "does not open" in caplog.text
    ctx.keys.destroy("bot_dddddddddddddddd")
    assert _download(client, ctx, key).status_code == 404
    missing = _download(client, ctx, "bots/bot_dddddddddddddddd/none.mp3")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("header", "span"),
    [
        (None, None),
        ("bytes=0-9", (0, 10)),
        ("bytes=5-", (5, 100)),
        ("bytes=-5", (95, 100)),
        ("bytes=90-500", (90, 100)),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
    ],
)
def test_parse_range(header, span):
    assert parse_range(header, 100) == span


def test_data_dir_is_private(ctx, sqlite_url):
    ctx.blobs.put_bytes("bots/bot_eeeeeeeeeeeeeeee/a.wav", b"x")
    ctx.keys.key_for_writing("bot_eeeeeeeeeeeeeeee")
    data_dir = ctx.settings.data_dir
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for folder, dirs, files in os.walk(data_dir):
        for name in dirs:
            assert stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode) == 0o700, name
        for name in files:
            assert stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode) == 0o600, name


def test_a_data_dir_left_open_by_an_older_version_is_tightened(tmp_path):
    from sitin.datadir import make_private

    data_dir = tmp_path / "old"
    (data_dir / "blobs").mkdir(parents=True)
    (data_dir / "blobs" / "a").write_bytes(b"x")
    os.chmod(data_dir, 0o755)
    os.chmod(data_dir / "blobs" / "a", 0o644)
    make_private(data_dir)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "blobs").stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "blobs" / "a").stat().st_mode) == 0o600
