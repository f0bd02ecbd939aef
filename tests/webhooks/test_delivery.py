"""Webhooks delivered by a running worker to a real receiver on 127.0.0.1, on SQLite and
PostgreSQL: every trigger signed, retries, timeouts, ordering, precedence."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from sitin.bootstrap import build_worker
from sitin.core.states import EventType
from sitin.core.timefmt import utcnow
from sitin.core.triggers import Trigger
from sitin.db import capture
from sitin.db.tables import webhook_delivery_attempts, webhook_subscriptions
from sitin.webhooks import envelope
from sitin.webhooks.dispatch import fire
from sitin.webhooks.tasks import requeue_lost_deliveries
from webhooks.helpers import ALL_TRIGGERS, JOIN, advance, fire_transcript, wait_settled
from webhooks.receiver import Reply

STATE_CHANGE = "bot.state_change"


def test_every_trigger_is_delivered_signed(ctx, project, new_bot, receiver, worker):
    bot = new_bot(
        metadata={"customer": "c-42"},
        webhooks=[{"url": receiver.url, "triggers": ALL_TRIGGERS}],
    )
    bot_id = bot["id"]
    advance(ctx, bot_id, *JOIN)  # two more state changes
    fire_transcript(ctx, bot_id, "Grüße aus Köln")
    with ctx.db.write() as tx:
        person = capture.upsert_participant(
            tx, bot_id=bot_id, uuid="uuid-bob", name="Bob", is_host=False
        )
        message_id = capture.add_chat_message(
            tx,
            bot_id=bot_id,
            participant_id=person,
            text="hello all",
            timestamp_ms=1_700_000_000_123,
        )
        fire(
            tx,
            bot_id=bot_id,
            trigger=Trigger.CHAT_MESSAGES_UPDATE,
            data=envelope.chat_message_data(
                id=message_id,
                text="hello all",
                timestamp_ms=1_700_000_000_123,
                to="everyone",
                sender_name="Bob",
                sender_uuid="uuid-bob",
                sender_user_uuid=None,
            ),
        )
        for kind in ("join", "speech_start"):
            event_id = capture.add_participant_event(
                tx, bot_id=bot_id, participant_id=person, event_type=kind, timestamp_ms=5000
            )
            fire(
                tx,
                bot_id=bot_id,
                trigger=envelope.participant_event_trigger(kind),
                data=envelope.participant_event_data(
                    id=event_id,
                    participant_name="Bob",
                    participant_uuid="uuid-bob",
                    participant_user_uuid=None,
                    participant_is_host=False,
                    event_type=kind,
                    event_data={},
                    timestamp_ms=5000,
                ),
            )
        log_id = capture.add_log_entry(
            tx, bot_id=bot_id, level="warning", entry_type="could_not_enable_captions", message="m"
        )
        fire(
            tx,
            bot_id=bot_id,
            trigger=Trigger.BOT_LOGS_UPDATE,
            data=envelope.bot_log_data(
                id=log_id,
                level="warning",
                entry_type="could_not_enable_captions",
                message="m",
                created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            ),
        )

    deliveries = receiver.wait_count(8)
    assert {d.trigger for d in deliveries} == set(ALL_TRIGGERS)
    for delivery in deliveries:
        assert receiver.verified(delivery), delivery.headers
        assert delivery.headers["user-agent"] == "sitin-Webhook/1.0"
        assert delivery.headers["content-type"] == "application/json"
        assert set(delivery.envelope) == {
            "idempotency_key",
            "bot_id",
            "bot_metadata",
            "trigger",
            "data",
        }
        assert delivery.envelope["bot_id"] == bot_id
        assert delivery.envelope["bot_metadata"] == {"customer": "c-42"}

    by_trigger = {}
    for delivery in deliveries:
        by_trigger.setdefault(delivery.trigger, []).append(delivery.data)
    states = sorted(by_trigger[STATE_CHANGE], key=lambda d: d["created_at"])
    assert [(s["old_state"], s["new_state"], s["event_type"]) for s in states] == [
        ("ready", "joining", "join_requested"),
        ("joining", "joined_not_recording", "joined_meeting"),
        ("joined_not_recording", "joined_recording", "recording_permission_granted"),
    ]
    assert states[0]["event_metadata"] == {"source": "api"}
    assert states[0]["event_sub_type"] is None
    assert all(s["created_at"].endswith("+00:00") for s in states)
    assert by_trigger["transcript.update"] == [
        {
            "speaker_name": "Alice",
            "speaker_uuid": "uuid-alice",
            "speaker_user_uuid": None,
            "speaker_is_host": True,
            "timestamp_ms": 1000,
            "duration_ms": 800,
            "transcription": {"transcript": "Grüße aus Köln"},
        }
    ]
    chat = by_trigger["chat_messages.update"][0]
    assert (chat["id"], chat["text"], chat["timestamp"], chat["timestamp_ms"]) == (
        message_id,
        "hello all",
        1_700_000_000,
        1_700_000_000_000,
    )
    assert by_trigger["participant_events.join_leave"][0]["event_type"] == "join"
    assert by_trigger["participant_events.speech_start_stop"][0]["event_type"] == "speech_start"
    assert by_trigger["bot_logs.update"][0] == {
        "id": log_id,
        "level": "warning",
        "entry_type": "could_not_enable_captions",
        "message": "m",
        "created_at": "2026-01-02T03:04:05+00:00",
    }


def test_retries_after_server_errors_then_succeeds(client, project, new_bot, receiver, worker):
    receiver.plan = lambda env, n: Reply(500, b"boom " * 200) if n < 3 else Reply(200, b"thanks")
    bot = new_bot(webhooks=[{"url": receiver.url, "triggers": [STATE_CHANGE]}])

    [delivery] = wait_settled(client, project, bot["id"], 1)
    assert delivery["status"] == "success"
    assert delivery["attempt_count"] == 3
    assert delivery["succeeded_at"] is not None
    attempts = delivery["attempts"]
    assert [a["status"] for a in attempts] == ["failure", "failure", "success"]
    assert [a["response_code"] for a in attempts] == [500, 500, 200]
    assert len(attempts[0]["response_excerpt"]) == 500
    assert attempts[0]["response_excerpt"].startswith("boom boom")
    assert attempts[2]["response_excerpt"] == "thanks"
    assert all(isinstance(a["duration_ms"], int) and a["duration_ms"] >= 0 for a in attempts)
    assert delivery["payload"]["idempotency_key"] == delivery["idempotency_key"]
    assert len(receiver.unique()) == 1 and receiver.verified(receiver.unique()[0])


def test_gives_up_after_the_configured_number_of_attempts(
    ctx, client, project, new_bot, receiver, worker
):
    ctx.settings.webhook_max_attempts = 2
    receiver.plan = lambda env, n: Reply(503, b"down")
    bot = new_bot(webhooks=[{"url": receiver.url, "triggers": [STATE_CHANGE]}])

    [delivery] = wait_settled(client, project, bot["id"], 1)
    assert delivery["status"] == "failure"
    assert [a["response_code"] for a in delivery["attempts"]] == [503, 503]
    assert len(receiver.arrivals) == 2


def test_a_timeout_is_retried(ctx, client, project, new_bot, receiver, worker):
    ctx.settings.webhook_timeout_seconds = 0.3
    receiver.plan = lambda env, n: Reply(200, delay=1.0) if n == 1 else Reply(204, b"")
    bot = new_bot(webhooks=[{"url": receiver.url, "triggers": [STATE_CHANGE]}])

    [delivery] = wait_settled(client, project, bot["id"], 1)
    first, second = delivery["attempts"]
    assert (first["status"], first["error"], first["response_code"]) == ("failure", "timeout", None)
    assert (second["status"], second["response_code"]) == ("success", 204)
    assert delivery["status"] == "success"


def test_a_redirect_is_not_followed(client, project, new_bot, receiver, worker):
    receiver.plan = lambda env, n: Reply(302, b"elsewhere")
    bot = new_bot(webhooks=[{"url": receiver.url, "triggers": [STATE_CHANGE]}])

    [delivery] = wait_settled(client, project, bot["id"], 1)
    assert delivery["status"] == "failure"
    assert [a["response_code"] for a in delivery["attempts"]] == [302, 302, 302]


def test_state_changes_arrive_in_order_when_the_first_is_slow(
    ctx, project, new_bot, receiver, worker
):
    def plan(env, n):
        slow = env["data"].get("new_state") == "joining"
        return Reply(200, delay=0.3 if slow else 0)

    receiver.plan = plan
    bot = new_bot(webhooks=[{"url": receiver.url, "triggers": [STATE_CHANGE]}])
    advance(ctx, bot["id"], *JOIN, EventType.LEAVE_REQUESTED, EventType.LEFT_MEETING)

    deliveries = receiver.wait_count(5)
    assert [d.data["new_state"] for d in deliveries] == [
        "joining",
        "joined_not_recording",
        "joined_recording",
        "leaving",
        "post_processing",
    ]


def test_bot_level_subscriptions_replace_project_level_ones(
    ctx, client, project, new_bot, receiver, worker
):
    for path, active in (("/project", True), ("/project-inactive", False)):
        response = client.post(
            "/api/v1/webhooks",
            json={
                "url": receiver.url.replace("/hook", path),
                "triggers": [STATE_CHANGE],
                "is_active": active,
            },
            headers=project.headers,
        )
        assert response.status_code == 201, response.text
    bot_hook = {"url": receiver.url.replace("/hook", "/bot"), "triggers": [STATE_CHANGE]}
    own = new_bot(webhooks=[bot_hook])
    plain = new_bot()

    deliveries = receiver.wait_count(2)
    assert sorted((d.envelope["bot_id"], d.path) for d in deliveries) == sorted(
        [(own["id"], "/bot"), (plain["id"], "/project")]
    )
    with ctx.db.read() as conn:
        urls = {
            (row.bot_id, row.url.rsplit("/", 1)[-1])
            for row in conn.execute(
                select(webhook_delivery_attempts.c.bot_id, webhook_subscriptions.c.url).join(
                    webhook_subscriptions
                )
            )
        }
    assert urls == {(own["id"], "bot"), (plain["id"], "project")}


def test_a_subscription_without_the_trigger_gets_nothing(ctx, project, new_bot, receiver):
    bot = new_bot(webhooks=[{"url": receiver.url, "triggers": ["bot_logs.update"]}])
    advance(ctx, bot["id"], *JOIN)
    keys = fire_transcript(ctx, bot["id"], "not subscribed")
    assert keys == []
    with ctx.db.read() as conn:
        assert conn.execute(select(webhook_delivery_attempts.c.id)).all() == []


def test_a_delivery_whose_task_was_lost_is_queued_again_by_the_sweep(
    ctx, client, project, new_bot, receiver
):
    bot = new_bot(webhooks=[{"url": receiver.url, "triggers": [STATE_CHANGE]}])
    ctx.queue.huey.flush()  # the process died after the commit, before the task reached the queue
    assert requeue_lost_deliveries(ctx) == 0  # not yet: it may still be on its way
    with ctx.db.write() as tx:  # a minute later
        tx.conn.execute(
            update(webhook_delivery_attempts).values(
                next_attempt_at=utcnow() - timedelta(seconds=61)
            )
        )
    assert requeue_lost_deliveries(ctx) == 1
    worker = build_worker(ctx, threads=2, periodic=False)
    worker.start()
    try:
        [delivery] = wait_settled(client, project, bot["id"], 1)
    finally:
        worker.stop()
    assert delivery["status"] == "success"
    assert [d.data["new_state"] for d in receiver.unique()] == ["joining"]


def test_a_paused_subscription_gets_nothing_until_resumed(
    ctx, client, project, new_bot, receiver, worker
):
    created = client.post(
        "/api/v1/webhooks",
        json={"url": receiver.url, "triggers": [STATE_CHANGE]},
        headers=project.headers,
    ).json()
    paused = client.patch(
        f"/api/v1/webhooks/{created['id']}", json={"is_active": False}, headers=project.headers
    )
    assert paused.status_code == 200, paused.text
    assert paused.json() == {**created, "is_active": False}
    bot = new_bot()
    advance(ctx, bot["id"], EventType.JOINED_MEETING)
    with ctx.db.read() as conn:
        assert conn.execute(select(webhook_delivery_attempts.c.id)).all() == []

    resumed = client.patch(
        f"/api/v1/webhooks/{created['id']}", json={"is_active": True}, headers=project.headers
    )
    assert resumed.json()["is_active"] is True
    advance(ctx, bot["id"], EventType.RECORDING_PERMISSION_GRANTED)
    delivered = receiver.wait_count(1)
    assert [d.data["new_state"] for d in delivered] == ["joined_recording"]
