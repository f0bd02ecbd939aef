"""A captured blob passes the deletion fence before a byte is written (issue 11, item 2): a key
outside the bot's own prefix is refused, and a bot whose data was deleted writes nothing at all
(not even briefly: the store is never asked to take the blob)."""

import pytest

from sitin.db import capture
from sitin.db.capture import DataDeleted
from sitin.deletion import purge
from sitin.runtime.blob_fence import store_blob
from support.captured import ended_bot_with_data


def _record_recording(bot_id: str, key: str):
    def record(tx, size: int) -> None:
        capture.set_recording_file(
            tx, bot_id=bot_id, blob_key=key, blob_size=size, first_buffer_timestamp_ms=None
        )

    return record


@pytest.fixture
def stores(ctx, monkeypatch):
    """Every key the sealed store is asked to write (it still writes them)."""
    asked: list[str] = []
    real_put = ctx.blobs.put_bytes

    def put_bytes(key: str, data: bytes) -> int:
        asked.append(key)
        return real_put(key, data)

    monkeypatch.setattr(ctx.blobs, "put_bytes", put_bytes)
    return asked


@pytest.mark.parametrize("relative", ["../{victim}/recording.mp3", "audio/../../{victim}/x", ".."])
def test_a_key_outside_the_bots_prefix_is_refused_before_anything_is_written(
    ctx, new_bot, stores, relative
):
    bot_id, victim = new_bot()["id"], new_bot()["id"]
    key = capture.blob_prefix(bot_id) + relative.format(victim=victim)
    with pytest.raises(ValueError, match="outside"):
        store_blob(
            ctx.db,
            ctx.blobs,
            bot_id=bot_id,
            key=key,
            content=b"x",
            record=_record_recording(bot_id, key),
        )
    assert stores == []
    assert list(ctx.blobs.list(capture.blob_prefix(victim))) == []


def test_a_data_deleted_bot_writes_nothing(ctx, new_bot, project, stores):
    bot_id = new_bot()["id"]
    ended_bot_with_data(ctx, bot_id, blobs=0)
    purge.delete_bot_data(ctx, bot_id=bot_id, project_id=project.id)
    key = capture.blob_prefix(bot_id) + "recording.mp3"
    with pytest.raises(DataDeleted):
        store_blob(
            ctx.db,
            ctx.blobs,
            bot_id=bot_id,
            key=key,
            content=b"late audio",
            record=_record_recording(bot_id, key),
        )
    assert stores == []
    assert list(ctx.blobs.backend.list(capture.blob_prefix(bot_id))) == []


def test_a_capturable_bot_stores_its_blob(ctx, new_bot, stores):
    bot_id = new_bot()["id"]
    key = capture.blob_prefix(bot_id) + "recording.mp3"
    size = store_blob(
        ctx.db,
        ctx.blobs,
        bot_id=bot_id,
        key=key,
        content=b"audio",
        record=_record_recording(bot_id, key),
    )
    assert size == 5 and stores == [key]
    assert ctx.blobs.get_bytes(key) == b"audio"
