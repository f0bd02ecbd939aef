"""Captured content in the database is sealed under the bot's data key: the raw columns hold only
ciphertext, the API answers exactly as before, a destroyed key or damaged value reads as empty
(logged, never a 500, never another bot's plaintext), and lookups by uuid still work."""

import logging

from sqlalchemy import select, text, update

from sitin.db import capture
from sitin.db.tables import (
    bot_chat_message_requests,
    bot_log_entries,
    chat_messages,
    participants,
    utterances,
    webhook_delivery_attempts,
)
from support.captured import JOIN_PATH, advance, capture_meeting, ended_bot_with_data

# What support.captured writes: a participant's name, chat text, transcript words, a log line.
PLAINTEXTS = ("Person 0", "secret plan", "confidential sentence", "said hello", "bot says hi")


def raw_rows(ctx, bot_id: str) -> str:
    """Every captured column of the bot as the database holds it."""
    dumped = []
    with ctx.db.read() as conn:
        for table in (
            participants,
            chat_messages,
            utterances,
            bot_log_entries,
            bot_chat_message_requests,
        ):
            dumped.extend(
                str(dict(row))
                for row in conn.execute(select(table).where(table.c.bot_id == bot_id)).mappings()
            )
    return "\n".join(dumped)


def test_content_is_ciphertext_in_the_database_and_plaintext_through_the_api(
    ctx, client, project, new_bot
):
    bot_id = new_bot()["id"]
    ended_bot_with_data(ctx, bot_id)
    stored = raw_rows(ctx, bot_id)
    assert "enc1:" in stored
    for plain in (*PLAINTEXTS, "uuid-0"):
        assert plain not in stored

    headers = project.headers
    transcript = client.get(f"/api/v1/bots/{bot_id}/transcript", headers=headers).json()
    assert [u["transcription"]["transcript"] for u in transcript] == [
        f"confidential sentence {i}" for i in range(6)
    ]
    assert {u["speaker_name"] for u in transcript} == {"Person 0", "Person 1"}
    assert {u["speaker_uuid"] for u in transcript} == {"uuid-0", "uuid-1"}
    chat = client.get(f"/api/v1/bots/{bot_id}/chat_messages", headers=headers).json()["results"]
    assert sorted(m["text"] for m in chat) == ["secret plan 0", "secret plan 1"]
    people = client.get(f"/api/v1/bots/{bot_id}/participants", headers=headers).json()["results"]
    assert sorted(p["name"] for p in people) == ["Person 0", "Person 1"]
    events = client.get(f"/api/v1/bots/{bot_id}/participant_events", headers=headers).json()
    assert sorted(e["participant_name"] for e in events["results"]) == ["Person 0", "Person 1"]


def test_a_participant_is_found_by_uuid_through_its_keyed_hash(ctx, new_bot):
    bot_id = new_bot()["id"]
    ended_bot_with_data(ctx, bot_id, blobs=0)
    with ctx.db.write() as tx:  # seen again: the same row, not a second one
        again = capture.upsert_participant(
            tx, bot_id=bot_id, uuid="uuid-1", name="Person 1", is_host=False
        )
    with ctx.db.read() as conn:
        ids = conn.execute(
            select(participants.c.id).where(participants.c.bot_id == bot_id)
        ).scalars()
        assert again in set(ids)
        count = conn.execute(
            text("SELECT count(*) FROM participants WHERE bot_id = :b"), {"b": bot_id}
        ).scalar_one()
    assert count == 2


def test_sending_chat_to_a_participant_matches_the_sealed_uuid(ctx, client, project, new_bot):
    bot_id = new_bot()["id"]
    advance(ctx, bot_id, *JOIN_PATH)  # in the meeting: chat can be sent
    capture_meeting(ctx, bot_id, blobs=0)
    sent = client.post(
        f"/api/v1/bots/{bot_id}/send_chat_message",
        json={"to": "specific_user", "to_user_uuid": "uuid-1", "message": "hi Person 1"},
        headers=project.headers,
    )
    assert sent.status_code == 200, sent.text
    unknown = client.post(
        f"/api/v1/bots/{bot_id}/send_chat_message",
        json={"to": "specific_user", "to_user_uuid": "uuid-9", "message": "hi"},
        headers=project.headers,
    )
    assert unknown.status_code == 400
    assert "uuid-9" in unknown.text
    assert "hi Person 1" not in raw_rows(ctx, bot_id)


def test_a_destroyed_key_or_damaged_value_reads_as_empty_never_a_500(
    ctx, client, project, new_bot, caplog
):
    damaged, shredded = new_bot()["id"], new_bot()["id"]
    ended_bot_with_data(ctx, damaged, blobs=0)
    ended_bot_with_data(ctx, shredded, blobs=0)
    with ctx.db.write() as tx:  # one chat text swapped for another bot's ciphertext
        foreign = tx.conn.execute(
            select(chat_messages.c.text).where(chat_messages.c.bot_id == shredded).limit(1)
        ).scalar_one()
        first = tx.conn.execute(
            select(chat_messages.c.id).where(chat_messages.c.bot_id == damaged).limit(1)
        ).scalar_one()
        tx.conn.execute(
            update(chat_messages).where(chat_messages.c.id == first).values(text=foreign)
        )
    ctx.keys.destroy(shredded)  # e.g. a database backup restored after delete_data
    headers = project.headers
    with caplog.at_level(logging.ERROR):
        chat = client.get(f"/api/v1/bots/{damaged}/chat_messages", headers=headers)
        assert chat.status_code == 200
        texts = sorted(m["text"] for m in chat.json()["results"])
        assert texts[0] == "" and texts[1].startswith("secret plan")
        for path in ("transcript", "chat_messages", "participants", "participant_events"):
            response = client.get(f"/api/v1/bots/{shredded}/{path}", headers=headers)
            assert response.status_code == 200, response.text
            assert "secret plan" not in response.text and "Person" not in response.text
            assert "confidential" not in response.text
    assert client.get(f"/api/v1/bots/{shredded}/transcript", headers=headers).json() == []
    assert any("cannot be read" in r.getMessage() for r in caplog.records)
    assert not any("secret plan" in r.getMessage() for r in caplog.records)


def test_content_webhook_payloads_are_sealed_at_rest(ctx, client, project, new_bot):
    from sitin.webhooks.dispatch import fire

    hook = "https://93.184.215.14/hook"  # never called: no worker runs
    bot_id = new_bot(webhooks=[{"url": hook, "triggers": ["transcript.update"]}])["id"]
    ended_bot_with_data(ctx, bot_id, blobs=0)
    with ctx.db.write() as tx:
        fire(tx, bot_id=bot_id, trigger="transcript.update", data={"words": "classified remark"})
    with ctx.db.read() as conn:
        payloads = (
            conn.execute(
                select(webhook_delivery_attempts.c.payload).where(
                    webhook_delivery_attempts.c.bot_id == bot_id,
                    webhook_delivery_attempts.c.trigger == "transcript.update",
                )
            )
            .scalars()
            .all()
        )
    assert payloads and all("classified" not in str(p) for p in payloads)
    listed = client.get(f"/api/v1/bots/{bot_id}/webhook_deliveries", headers=project.headers)
    assert listed.status_code == 200, listed.text
    assert "classified remark" in listed.text  # opened for the API, as before


def one_speaker_said(ctx, bot_id: str, transcriptions: list[dict]) -> None:
    """One participant's utterances, a second apart, with these transcriptions."""
    with ctx.db.write() as tx:
        person = capture.upsert_participant(
            tx, bot_id=bot_id, uuid="uuid-0", name="Person 0", is_host=False
        )
        for i, transcription in enumerate(transcriptions):
            capture.add_utterance(
                tx,
                bot_id=bot_id,
                participant_id=person,
                timestamp_ms=1000 * i,
                duration_ms=500,
                transcription=transcription,
            )


def test_every_shape_of_transcription_reads_back_as_captured(ctx, client, project, new_bot):
    # A transcription is sent as the JSON it was sealed as when it has the usual shape (its
    # text first), parsed otherwise: either way the client sees what the provider gave.
    bot_id = new_bot()["id"]
    advance(ctx, bot_id, *JOIN_PATH)
    said = [
        {"transcript": 'He said "hi" \\ naïve — 你好', "words": [{"word": "He", "start": 0.1}]},
        {"words": [{"word": "later", "start": 1e-05}], "transcript": "text after the words"},
        {"transcript": "a NaN confidence", "confidence": float("nan")},
        {"transcript": ""},  # nothing was said: not part of the transcript
        {"language": "en"},  # no text at all: neither
        {"transcript": "last", "end": 2.5},
    ]
    one_speaker_said(ctx, bot_id, said)

    response = client.get(f"/api/v1/bots/{bot_id}/transcript", headers=project.headers)

    assert response.status_code == 200, response.text
    assert [u["transcription"] for u in response.json()] == [
        said[0],
        said[1],
        {"transcript": "a NaN confidence", "confidence": None},  # JSON has no NaN
        said[5],
    ]
    assert [u["timestamp_ms"] for u in response.json()] == [0, 1000, 2000, 5000]


def test_a_damaged_or_unsealed_transcription_drops_only_its_utterance(
    ctx, client, project, new_bot, caplog
):
    bot_id = new_bot()["id"]
    advance(ctx, bot_id, *JOIN_PATH)
    one_speaker_said(ctx, bot_id, [{"transcript": f"sentence number {i}"} for i in range(4)])
    with ctx.db.write() as tx:
        ids = tx.conn.execute(
            select(utterances.c.id, utterances.c.transcription)
            .where(utterances.c.bot_id == bot_id)
            .order_by(utterances.c.timestamp_ms)
        ).all()
        altered = ids[1].transcription[:-6] + (
            "AAAA==" if ids[1].transcription[-6] != "A" else "BBBB=="
        )
        for row_id, value in (
            (ids[1].id, altered),  # altered bytes
            (ids[2].id, {"transcript": "an unsealed sentence"}),  # plaintext, as if injected
        ):
            tx.conn.execute(
                update(utterances).where(utterances.c.id == row_id).values(transcription=value)
            )

    with caplog.at_level(logging.ERROR):
        response = client.get(f"/api/v1/bots/{bot_id}/transcript", headers=project.headers)

    assert response.status_code == 200, response.text
    assert [u["transcription"]["transcript"] for u in response.json()] == [
        "sentence number 0",
        "sentence number 3",
    ]
    assert "unsealed sentence" not in response.text
    assert any("utterances.transcription cannot be read" in r.getMessage() for r in caplog.records)
