"""``sitin storage encrypt`` (and every start) seals in place what was stored before content was
encrypted: afterwards the columns hold only ciphertext, the API answers as before, a content
delivery's payload is sealed too, and a second run finds nothing left. Both databases."""

from sqlalchemy import insert, select, update

from sitin.core.timefmt import utcnow
from sitin.db import sealing
from sitin.db.sealing import Opener
from sitin.db.tables import chat_messages, participants, utterances, webhook_delivery_attempts
from sitin.db.webhook_subscriptions import add as add_subscription
from sitin.encryption.existing import seal_existing_rows
from support.captured import ended_bot_with_data

CONTENT_PAYLOAD = {"trigger": "transcript.update", "data": {"transcript": "before encryption"}}


def _store_as_before_encryption(ctx, bot_id: str, project_id: str) -> None:
    """Open the bot's sealed columns and write them back in plaintext, as an older sitin stored
    them (no uuid hash either), plus a content delivery with a plaintext payload."""
    opener = Opener(bot_id, ctx.keys.key_for_reading(bot_id))
    with ctx.db.write() as tx:
        conn = tx.conn
        for row in conn.execute(select(participants).where(participants.c.bot_id == bot_id)):
            conn.execute(
                update(participants)
                .where(participants.c.id == row.id)
                .values(
                    name=opener.text(row.name, sealing.PARTICIPANT_NAME),
                    uuid=opener.text(row.uuid, sealing.PARTICIPANT_UUID),
                    uuid_hash=None,
                )
            )
        for row in conn.execute(select(chat_messages).where(chat_messages.c.bot_id == bot_id)):
            conn.execute(
                update(chat_messages)
                .where(chat_messages.c.id == row.id)
                .values(text=opener.text(row.text, sealing.CHAT_TEXT))
            )
        for row in conn.execute(select(utterances).where(utterances.c.bot_id == bot_id)):
            transcription = opener.json(row.transcription, sealing.UTTERANCE_TRANSCRIPTION)
            conn.execute(
                update(utterances)
                .where(utterances.c.id == row.id)
                .values(transcription=transcription)
            )
        webhook_id = add_subscription(
            conn,
            project_id=project_id,
            bot_id=bot_id,
            url="https://example.invalid/hook",
            triggers=["transcript.update"],
        )
        conn.execute(
            insert(webhook_delivery_attempts).values(
                id="att-before-encryption",
                subscription_id=webhook_id,
                bot_id=bot_id,
                trigger="transcript.update",
                payload=CONTENT_PAYLOAD,
                status="success",
                attempt_count=1,
                attempts=[],
                created_at=utcnow(),
            )
        )


def _answers(client, headers, bot_id: str) -> tuple:
    transcript = client.get(f"/api/v1/bots/{bot_id}/transcript", headers=headers).json()
    chat = client.get(f"/api/v1/bots/{bot_id}/chat_messages", headers=headers).json()
    people = client.get(f"/api/v1/bots/{bot_id}/participants", headers=headers).json()
    return transcript, chat["results"], people["results"]


def test_plaintext_from_before_encryption_is_sealed_once(ctx, client, project, new_bot):
    bot_id = new_bot()["id"]
    ended_bot_with_data(ctx, bot_id)
    answers = _answers(client, project.headers, bot_id)
    _store_as_before_encryption(ctx, bot_id, project.id)
    with ctx.db.read() as conn:
        people = conn.execute(
            select(participants.c.name).where(participants.c.bot_id == bot_id)
        ).scalars()
        assert "Person 0" in set(people)  # really plaintext now

    report = seal_existing_rows(ctx)

    with ctx.db.read() as conn:
        counts = {
            "participants.name": len(
                conn.execute(select(participants.c.id).where(participants.c.bot_id == bot_id))
                .scalars()
                .all()
            ),
            "chat_messages.text": len(
                conn.execute(select(chat_messages.c.id).where(chat_messages.c.bot_id == bot_id))
                .scalars()
                .all()
            ),
            "utterances.transcription": len(
                conn.execute(select(utterances.c.id).where(utterances.c.bot_id == bot_id))
                .scalars()
                .all()
            ),
        }
        raw = [
            *conn.execute(
                select(participants.c.name, participants.c.uuid, participants.c.uuid_hash).where(
                    participants.c.bot_id == bot_id
                )
            ),
            *conn.execute(select(chat_messages.c.text).where(chat_messages.c.bot_id == bot_id)),
        ]
        payload = conn.execute(
            select(webhook_delivery_attempts.c.payload).where(
                webhook_delivery_attempts.c.id == "att-before-encryption"
            )
        ).scalar_one()
    for column, count in counts.items():
        assert count > 0
        assert report.values[column] == count, column
    assert report.values["participants.uuid_hash"] == counts["participants.name"]
    assert report.values["webhook_delivery_attempts.payload"] == 1
    for row in raw:
        assert all(value is not None for value in row)
        for value in row[:2]:
            assert value.startswith("enc1:"), value
    opener = Opener(bot_id, ctx.keys.key_for_reading(bot_id))
    assert isinstance(payload, str) and payload.startswith("enc1:")
    assert opener.json(payload, sealing.WEBHOOK_PAYLOAD) == CONTENT_PAYLOAD
    assert _answers(client, project.headers, bot_id) == answers

    assert seal_existing_rows(ctx).total == 0  # idempotent: nothing left to seal
