"""POST /api/v1/bots/{id}/delete_data: the black-box contract, on SQLite and PostgreSQL."""

import threading
import time

import pytest
from sqlalchemy import func, select

from sitin.core.states import BotState, EventType
from sitin.db import capture
from sitin.db.capture import DataDeleted
from sitin.db.tables import (
    CAPTURED_TABLES,
    bot_events,
    bots,
    deletion_journal,
    recordings,
    webhook_delivery_attempts,
)
from sitin.deletion import purge
from sitin.encryption.keystore import DESTROYED, LIVE
from support.captured import END_PATH, JOIN_PATH, advance, ended_bot_with_data

READ_ROUTES = ("participants", "participant_events", "chat_messages")


def delete_data(client, project, bot_id, **kwargs):
    return client.post(f"/api/v1/bots/{bot_id}/delete_data", headers=project.headers, **kwargs)


def count_rows(ctx, bot_id: str) -> dict[str, int]:
    with ctx.db.read() as conn:
        return {
            table.name: conn.execute(
                select(func.count()).select_from(table).where(table.c.bot_id == bot_id)
            ).scalar_one()
            for table in CAPTURED_TABLES
        }


@pytest.fixture
def ended_bot(ctx, project, new_bot):
    bot = new_bot(metadata={"customer_id": "abc123"}, deduplication_key="meeting-1")
    captured = ended_bot_with_data(ctx, bot["id"], project_id=project.id)
    return bot["id"], captured


def test_delete_data_returns_the_bot_in_data_deleted_with_everything_preserved(
    client, project, ended_bot
):
    bot_id, _ = ended_bot
    before = client.get(f"/api/v1/bots/{bot_id}", headers=project.headers).json()
    assert client.get(f"/api/v1/bots/{bot_id}/transcript", headers=project.headers).json()

    response = delete_data(client, project, bot_id)

    assert response.status_code == 200, response.text
    bot = response.json()
    assert bot["state"] == "data_deleted"
    assert bot["events"][:-1] == before["events"]
    assert bot["events"][-1]["type"] == "data_deleted"
    assert "sub_type" not in bot["events"][-1]
    for kept in ("metadata", "meeting_url", "join_at", "deduplication_key", "id"):
        assert bot[kept] == before[kept]
    assert bot["recording_state"] == "not_started"
    assert bot["transcription_state"] == "not_started"
    assert client.get(f"/api/v1/bots/{bot_id}", headers=project.headers).json() == bot


def test_after_deletion_every_read_route_is_empty_and_recording_is_gone(client, project, ended_bot):
    bot_id, _ = ended_bot
    assert delete_data(client, project, bot_id).status_code == 200
    headers = project.headers
    assert client.get(f"/api/v1/bots/{bot_id}/transcript", headers=headers).json() == []
    filtered = client.get(
        f"/api/v1/bots/{bot_id}/transcript?updated_after=2000-01-01T00:00:00Z", headers=headers
    )
    assert filtered.json() == []
    for route in READ_ROUTES:
        page = client.get(f"/api/v1/bots/{bot_id}/{route}", headers=headers).json()
        assert page == {"next": None, "previous": None, "results": []}, route
    host_filter = client.get(f"/api/v1/bots/{bot_id}/participants?is_host=true", headers=headers)
    assert host_filter.json()["results"] == []
    recording = client.get(f"/api/v1/bots/{bot_id}/recording", headers=headers)
    assert recording.status_code == 404
    assert recording.json() == {"error": "No recording file found for bot"}


def test_every_captured_row_and_blob_is_deleted(ctx, client, project, ended_bot):
    bot_id, captured = ended_bot
    # an upload that never finished is deleted too
    prefix = capture.blob_prefix(bot_id)
    ctx.blobs.put_bytes(f"{prefix}late/partial.bin", b"partial")
    assert all(count_rows(ctx, bot_id).values())

    assert delete_data(client, project, bot_id).status_code == 200

    assert set(count_rows(ctx, bot_id).values()) == {0}
    assert list(ctx.blobs.list(prefix)) == []
    assert ctx.blobs.is_empty(prefix)
    with ctx.db.read() as conn:
        assert (
            conn.execute(
                select(recordings.c.blob_key).where(recordings.c.bot_id == bot_id)
            ).scalar_one()
            is None
        )
        attempts = (
            conn.execute(
                select(webhook_delivery_attempts).where(
                    webhook_delivery_attempts.c.bot_id == bot_id
                )
            )
            .mappings()
            .all()
        )
        assert conn.execute(select(deletion_journal)).first() is None
    assert [a["trigger"] for a in attempts] == ["bot.state_change"] * len(attempts)
    state_change = next(a for a in attempts if a["id"] == "att-state")
    assert "remover_name" not in str(state_change["payload"])
    assert "secret" not in str(state_change["attempts"])


def test_the_receipt_counts_what_was_deleted_without_content(ctx, client, project, ended_bot):
    bot_id, captured = ended_bot
    assert delete_data(client, project, bot_id).status_code == 200
    with ctx.db.read() as conn:
        metadata = conn.execute(
            select(bot_events.c.metadata).where(
                bot_events.c.bot_id == bot_id, bot_events.c.event_type == "data_deleted"
            )
        ).scalar_one()
    assert metadata["deleted"]["utterances"] == captured.utterances
    assert metadata["deleted"]["participants"] == captured.participants
    assert metadata["deleted"]["chat_messages"] == captured.chat_messages
    assert metadata["deleted"]["recording_files"] == 1
    assert metadata["deleted"]["webhook_deliveries"] == 1
    assert metadata["blobs"] == captured.blobs
    assert metadata["blob_bytes"] == captured.blob_bytes
    assert "confidential" not in str(metadata) and "Person" not in str(metadata)


@pytest.mark.parametrize("settings_overrides", [{"deepgram_api_key": "dg-test-key"}])
def test_secrets_and_free_text_are_scrubbed_from_kept_settings(ctx, client, project, new_bot):
    bot = new_bot(
        transcription_settings={
            "deepgram": {
                "model": "nova-3",
                "use_eu_server": True,
                "keyterms": ["Acme merger"],
                "keywords": ["Project Falcon"],
                "replace": ["falcon:Secret Falcon"],
            },
            "openai": {"model": "whisper-1", "prompt": "Acme merger talk"},
        },
        automatic_leave_settings={"bot_keywords": ["Alice Secret"]},
    )
    ended_bot_with_data(ctx, bot["id"])
    assert delete_data(client, project, bot["id"]).status_code == 200
    with ctx.db.read() as conn:
        settings = conn.execute(select(bots.c.settings).where(bots.c.id == bot["id"])).scalar_one()
    assert settings["transcription_settings"] == {
        "deepgram": {"model": "nova-3", "use_eu_server": True, "language": "multi"},
        "openai": {"model": "whisper-1"},
    }
    assert not any(word in str(settings) for word in ("Acme", "Falcon", "Secret"))
    assert settings["recording_settings"]["format"] == "mp3"


def test_repeat_call_is_idempotent_and_adds_no_event(client, project, ended_bot):
    bot_id, _ = ended_bot
    first = delete_data(client, project, bot_id)
    second = delete_data(client, project, bot_id)
    assert second.status_code == 200
    assert second.json() == first.json()
    assert [e["type"] for e in second.json()["events"]].count("data_deleted") == 1


def test_body_may_be_json_or_absent(client, project, ended_bot):
    bot_id, _ = ended_bot
    response = client.post(
        f"/api/v1/bots/{bot_id}/delete_data",
        headers={**project.headers, "Content-Type": "application/json"},
        content=b"{}",
    )
    assert response.status_code == 200


def test_concurrent_calls_produce_exactly_one_event(ctx, client, project, ended_bot):
    bot_id, _ = ended_bot
    results: list[int] = []
    start = threading.Barrier(4)

    def call():
        start.wait()
        results.append(delete_data(client, project, bot_id).status_code)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 4
    with ctx.db.read() as conn:
        events = conn.execute(
            select(func.count())
            .select_from(bot_events)
            .where(bot_events.c.bot_id == bot_id, bot_events.c.event_type == "data_deleted")
        ).scalar_one()
    assert events == 1


def test_a_deletion_whose_fence_fails_keeps_the_data_and_its_key(
    ctx, client, project, ended_bot, monkeypatch
):
    """The key's destruction begins while the fence runs; a fence that fails before its commit
    rolls it back, so the bot keeps its data readable and a later call deletes it."""
    bot_id, _ = ended_bot
    transcript = client.get(f"/api/v1/bots/{bot_id}/transcript", headers=project.headers).json()
    assert transcript and ctx.keys.status([bot_id]) == {bot_id: LIVE}

    def failing(conn, bot_id):
        raise RuntimeError("the disk went away")

    with monkeypatch.context() as patched:
        patched.setattr(purge.data_deletion, "scrub_event_metadata", failing)
        with pytest.raises(RuntimeError):
            purge.delete_bot_data(ctx, bot_id=bot_id, project_id=project.id)
    ctx.keys.forget_cached()
    assert ctx.keys.status([bot_id]) == {bot_id: LIVE}
    assert client.get(f"/api/v1/bots/{bot_id}", headers=project.headers).json()["state"] == "ended"
    again = client.get(f"/api/v1/bots/{bot_id}/transcript", headers=project.headers).json()
    assert again == transcript

    assert delete_data(client, project, bot_id).status_code == 200
    assert ctx.keys.status([bot_id]) == {bot_id: DESTROYED}


NOT_DELETABLE = [
    ("scheduled", "DELETE /api/v1/bots/{id}"),
    ("joining", "leave"),
    ("joined_recording", "leave"),
    ("post_processing", "try again once it has ended"),
]


@pytest.mark.parametrize(("state", "hint"), NOT_DELETABLE, ids=[s for s, _ in NOT_DELETABLE])
def test_deletion_is_refused_outside_ended_and_fatal_error(
    ctx, client, project, new_bot, state, hint
):
    if state == "scheduled":
        bot = new_bot(join_at=_future())
    else:
        bot = new_bot()
        path = {
            "joining": (),
            "joined_recording": JOIN_PATH,
            "post_processing": (*JOIN_PATH, *END_PATH[:2]),
        }[state]
        advance(ctx, bot["id"], *path)
    response = delete_data(client, project, bot["id"])
    assert response.status_code == 400
    message = response.json()["error"]
    assert f"state {state}" in message
    assert "ended or fatal_error" in message
    assert hint in message
    assert client.get(f"/api/v1/bots/{bot['id']}", headers=project.headers).json()["state"] == state


def _future() -> str:
    from datetime import timedelta

    from sitin.core.timefmt import to_wire, utcnow

    return to_wire(utcnow() + timedelta(days=1))


def test_fatal_error_bots_can_be_deleted(ctx, client, project, new_bot):
    bot = new_bot()
    advance(ctx, bot["id"], *JOIN_PATH)
    from sitin.core.states import EventSubType
    from sitin.db.bot_events import record_event

    with ctx.db.write() as tx:
        record_event(
            tx,
            bot_id=bot["id"],
            event=EventType.FATAL_ERROR,
            sub_type=EventSubType.HEARTBEAT_TIMEOUT,
        )
    assert delete_data(client, project, bot["id"]).json()["state"] == "data_deleted"


def test_unknown_bot_other_project_and_missing_key(client, project, other_project, ended_bot):
    bot_id, _ = ended_bot
    assert delete_data(client, other_project, bot_id).status_code == 404
    assert delete_data(client, other_project, bot_id).json() == {"error": "Bot not found"}
    assert delete_data(client, project, "bot_doesnotexist0000").status_code == 404
    missing = client.post(f"/api/v1/bots/{bot_id}/delete_data")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Token"
    state = client.get(f"/api/v1/bots/{bot_id}", headers=project.headers).json()["state"]
    assert state == BotState.ENDED


def test_writes_after_the_fence_are_refused(ctx, client, project, ended_bot):
    bot_id, _ = ended_bot
    with ctx.db.write() as tx:
        participant = capture.upsert_participant(
            tx, bot_id=bot_id, uuid="late", name="Late", is_host=False
        )
    assert delete_data(client, project, bot_id).status_code == 200
    writes = [
        lambda tx: capture.upsert_participant(tx, bot_id=bot_id, uuid="x", name="X", is_host=False),
        lambda tx: capture.add_utterance(
            tx,
            bot_id=bot_id,
            participant_id=participant,
            timestamp_ms=1,
            duration_ms=1,
            transcription={"transcript": "late"},
        ),
        lambda tx: capture.add_chat_message(
            tx, bot_id=bot_id, participant_id=participant, text="late", timestamp_ms=1
        ),
        lambda tx: capture.add_participant_event(
            tx, bot_id=bot_id, participant_id=participant, event_type="leave", timestamp_ms=1
        ),
        lambda tx: capture.set_recording_file(
            tx,
            bot_id=bot_id,
            blob_key=f"bots/{bot_id}/late.mp3",
            blob_size=1,
            first_buffer_timestamp_ms=None,
        ),
        lambda tx: capture.add_audio_segment(
            tx,
            bot_id=bot_id,
            participant_id=participant,
            blob_key=f"bots/{bot_id}/a.pcm",
            blob_size=1,
            sample_rate=16000,
            timestamp_ms=1,
            duration_ms=1,
        ),
        lambda tx: capture.add_log_entry(
            tx, bot_id=bot_id, level="info", entry_type="x", message="late"
        ),
    ]
    for write in writes:
        with pytest.raises(DataDeleted), ctx.db.write() as tx:
            write(tx)
    assert set(count_rows(ctx, bot_id).values()) == {0}


def test_a_writer_racing_the_deletion_leaves_nothing_behind(ctx, client, project, new_bot):
    """A pipeline keeps writing utterances while delete_data runs: afterwards nothing remains."""
    bot = new_bot()
    bot_id = bot["id"]
    advance(ctx, bot_id, *JOIN_PATH)
    with ctx.db.write() as tx:
        speaker = capture.upsert_participant(tx, bot_id=bot_id, uuid="s", name="S", is_host=True)
    advance(ctx, bot_id, *END_PATH)  # a late pipeline still writes after the bot ended
    stop = threading.Event()
    outcome = {"written": 0, "refused": 0}

    def writer():
        i = 0
        while not stop.is_set():
            try:
                with ctx.db.write() as tx:
                    capture.add_utterance(
                        tx,
                        bot_id=bot_id,
                        participant_id=speaker,
                        timestamp_ms=i,
                        duration_ms=10,
                        transcription={"transcript": f"late {i}"},
                    )
                outcome["written"] += 1
            except DataDeleted:
                outcome["refused"] += 1
                stop.set()
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    deadline = time.monotonic() + 30
    while outcome["written"] < 20 and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.01)
    assert outcome["written"] >= 20, "the writer did not get going"
    assert delete_data(client, project, bot_id).status_code == 200
    thread.join(timeout=30)
    assert outcome["refused"] == 1
    assert set(count_rows(ctx, bot_id).values()) == {0}
