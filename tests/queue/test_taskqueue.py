"""The task queue: what one process enqueues, a worker built on another process's queue of the
same URL runs (the embedded SQLite file and Redis for scale-out); a URL of any other kind is
refused with the forms that are allowed."""

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from sitin.queue import TaskQueue
from sitin.worker.process import Worker

REDIS_URL = os.environ.get("SITIN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_url() -> str:
    url = REDIS_URL.rsplit("/", 1)[0] + "/12"
    try:
        redis.Redis.from_url(url).ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("SITIN_TEST_REQUIRE_SERVICES") or os.environ.get("CI"):
            pytest.fail(f"Redis is not available ({exc})")
        pytest.skip(f"Redis is not available ({exc})")
    return url


@pytest.fixture(params=["sqlite", "redis"])
def queue_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'queue.db'}"
    return _redis_url()


@pytest.fixture
def two_processes(queue_url: str) -> Iterator[tuple[TaskQueue, TaskQueue]]:
    """The API's queue and a worker's queue: two objects, one URL (named per test, so tests
    running at once on one Redis never see each other's tasks)."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    api, worker = TaskQueue(queue_url, name), TaskQueue(queue_url, name)
    yield api, worker
    api.huey.flush()


def test_a_task_enqueued_by_one_process_runs_in_another(two_processes):
    api, worker_queue = two_processes
    received: list[tuple[str, int]] = []
    done = threading.Event()

    def deliver(target: str, attempt: int) -> None:
        received.append((target, attempt))
        done.set()

    api.register("test.deliver", deliver)  # the API only needs the name to enqueue
    worker_queue.register("test.deliver", deliver)
    api.enqueue("test.deliver", "https://hooks.example.com/in", 1)
    assert worker_queue.pending_count() == 1
    worker = Worker(worker_queue, threads=1, periodic=None)
    worker.start()
    try:
        assert done.wait(30), "the worker never ran the task the other process enqueued"
    finally:
        worker.stop()
    assert received == [("https://hooks.example.com/in", 1)]
    assert api.pending_count() == 0


def test_registering_a_task_twice_keeps_one(tmp_path):
    queue = TaskQueue(f"sqlite:///{tmp_path / 'queue.db'}")
    queue.register("test.once", lambda: None)
    queue.register("test.once", lambda: None)
    assert queue.task_names == ["test.once"]


@pytest.mark.parametrize("url", ["postgresql://db/queue", "amqp://broker", "queue.db"])
def test_an_unsupported_queue_url_names_the_forms_allowed(url):
    with pytest.raises(ValueError) as refused:
        TaskQueue(url)
    assert url in str(refused.value)
    assert "sqlite:///path" in str(refused.value) and "redis://" in str(refused.value)
