"""The local blob folder: keys stay inside it, whatever they spell."""

import pytest

from sitin.storage.local import LocalBlobStore


@pytest.mark.parametrize(
    "key", ["../outside", "bots/../../outside", "/etc/passwd", "bots/a/../../../outside/x"]
)
def test_a_key_that_leads_outside_the_folder_is_refused(tmp_path, key):
    store = LocalBlobStore(tmp_path / "blobs")
    with pytest.raises(ValueError, match="escapes the store"):
        store.put_bytes(key, b"x")
    assert not (tmp_path / "outside").exists()


def test_keys_are_files_under_the_folder_even_through_a_symlinked_path(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    store = LocalBlobStore(tmp_path / "link" / "blobs")
    assert store.put_bytes("bots/bot_a/audio/1.pcm", b"abc") == 3
    assert (
        tmp_path / "real" / "blobs" / "bots" / "bot_a" / "audio" / "1.pcm"
    ).read_bytes() == b"abc"
    assert store.usage("bots/bot_a/") == (1, 3)
    assert [b.key for b in store.list("bots/bot_a/")] == ["bots/bot_a/audio/1.pcm"]
    assert store.delete_prefix("bots/bot_a/") == 1
    assert store.is_empty("bots/bot_a/")
