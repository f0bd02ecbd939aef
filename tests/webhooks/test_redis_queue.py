"""Delivery through the Redis queue (scale-out): the API process enqueues, a worker on another
context of the same deployment delivers."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from sitin.api.app import create_app
from sitin.bootstrap import build_context, build_worker
from sitin.context import AppContext
from sitin.core.states import EventType
from sitin.webhooks import signing
from support.launcher import StandInLauncher
from support.projects import create_project
from webhooks.helpers import advance, webhook_settings
from webhooks.receiver import run_receiver

REDIS_URL = os.environ.get("SITIN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
QUEUE_URL = REDIS_URL.rsplit("/", 1)[0] + "/11"  # a database of its own: the queue is flushed


@pytest.fixture
def redis_contexts(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[AppContext, AppContext]]:
    try:
        redis.Redis.from_url(QUEUE_URL).ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("SITIN_TEST_REQUIRE_SERVICES") or os.environ.get("CI"):
            pytest.fail(f"Redis is not available ({exc})")
        pytest.skip(f"Redis is not available ({exc})")
    settings = webhook_settings(tmp_path, sqlite_url, queue_url=QUEUE_URL)
    api = build_context(settings, migrate=False, launcher=StandInLauncher())
    worker = build_context(settings.model_copy(), migrate=False)
    api.queue.huey.flush()
    yield api, worker
    api.queue.huey.flush()
    api.close()
    worker.close()


def test_delivery_through_redis(redis_contexts):
    api, worker_ctx = redis_contexts
    project = create_project(api, "acme")
    with api.db.write() as tx:
        secret = signing.current_secret(tx.conn, api.settings, project_id=project.id)
    with run_receiver() as receiver:
        receiver.secrets.append(secret)
        with TestClient(create_app(api)) as client:
            response = client.post(
                "/api/v1/bots",
                json={
                    "meeting_url": "http://127.0.0.1:8000/rooms/standup",
                    "bot_name": "Notetaker",
                    "webhooks": [{"url": receiver.url, "triggers": ["bot.state_change"]}],
                },
                headers=project.headers,
            )
            assert response.status_code == 201, response.text
            bot_id = response.json()["id"]
            advance(api, bot_id, EventType.JOINED_MEETING)
            assert api.queue.pending_count() == 2  # queued in Redis, nothing has run them

            worker = build_worker(worker_ctx, threads=2, periodic=False)
            worker.start()
            try:
                deliveries = receiver.wait_count(2)
            finally:
                worker.stop()
    assert [d.data["new_state"] for d in deliveries] == ["joining", "joined_not_recording"]
    assert all(receiver.verified(d) for d in deliveries)
