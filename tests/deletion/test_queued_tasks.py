"""Queued tasks and delete_data: tasks carry ids only (never content); delete_data removes the
tasks still waiting for the bot (a bot run retrying for a host, webhook deliveries whose rows
went with the bot's data) and keeps everyone else's; verify fails while a task names the bot.
On the embedded SQLite queue (with SQLite and PostgreSQL databases) and on Redis."""

import uuid

import pytest
import redis

from sitin.deletion.purge import drop_queued_tasks
from sitin.deletion.verify import remaining_data
from sitin.queue import TaskQueue
from sitin.runtime.tasks import RUN_BOT
from sitin.webhooks.dispatch import DELIVER_TASK
from support.captured import ended_bot_with_data

REDIS_URL = "redis://127.0.0.1:6379/0"


def test_delete_data_removes_the_bots_queued_tasks_and_verify_checks_for_them(
    ctx, client, project, new_bot
):
    bot_id = new_bot()["id"]
    other = new_bot()["id"]
    ended_bot_with_data(ctx, bot_id, project_id=project.id)  # deliveries att-content, att-state
    ctx.queue.enqueue(RUN_BOT, bot_id, delay=3600)  # a run retrying later, in the schedule
    ctx.queue.enqueue(DELIVER_TASK, "att-content")  # content: its row goes with the data
    ctx.queue.enqueue(DELIVER_TASK, "att-state")  # state change: kept, delivered as always
    ctx.queue.enqueue(RUN_BOT, other)
    # Only ids are queued, never content.
    assert all(isinstance(a, str) and len(a) <= 64 for _, args in ctx.queue.queued() for a in args)

    response = client.post(f"/api/v1/bots/{bot_id}/delete_data", headers=project.headers)
    assert response.status_code == 200, response.text

    left = sorted(ctx.queue.queued())
    assert (RUN_BOT, (bot_id,)) not in left
    assert (DELIVER_TASK, ("att-content",)) not in left
    assert (DELIVER_TASK, ("att-state",)) in left and (RUN_BOT, (other,)) in left
    assert remaining_data(ctx, bot_id) == []

    ctx.queue.enqueue(RUN_BOT, bot_id)  # a task that appeared after the deletion
    assert remaining_data(ctx, bot_id) == ["1 queued task(s) still name the bot: ['bot.run']"]
    assert drop_queued_tasks(ctx, bot_id) == 1
    assert remaining_data(ctx, bot_id) == []


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_removing_queued_tasks_on_each_queue_backend(backend, tmp_path):
    if backend == "redis":
        try:
            redis.Redis.from_url(REDIS_URL).ping()
        except redis.RedisError as exc:
            pytest.fail(f"Redis is not available ({exc})")
        queue = TaskQueue(REDIS_URL, f"sitin-test-{uuid.uuid4().hex[:8]}")
    else:
        queue = TaskQueue(f"sqlite:///{tmp_path / 'queue.db'}")
    queue.register("t", lambda *args: None)
    try:
        for arg in ("a", "b", "a"):
            queue.enqueue("t", arg)
        queue.enqueue("t", "a", delay=600)
        queue.enqueue("t", "c", delay=600)
        assert sorted(queue.queued()) == [("t", (x,)) for x in "aaabc"]
        assert queue.discard(t for t in queue.waiting() if t.args == ("a",)) == 3
        assert sorted(queue.queued()) == [("t", ("b",)), ("t", ("c",))]
        # only the tasks mentioning a string are read back (found in the stored bytes)
        queue.enqueue("t", "bot_Grüße")
        queue.enqueue("t", "bot_other", delay=600)
        mentioning = queue.waiting(mentioning=["bot_Grüße", "c"])
        assert sorted((t.name, t.args) for t in mentioning) == [
            ("t", ("bot_Grüße",)),
            ("t", ("c",)),
        ]
        assert queue.discard(mentioning) == 2
        assert sorted(queue.queued()) == [("t", ("b",)), ("t", ("bot_other",))]
    finally:
        queue.huey.storage.flush_queue()
        queue.huey.storage.flush_schedule()
