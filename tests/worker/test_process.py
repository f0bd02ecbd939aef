"""The worker: queued tasks run on its threads, what a crash left behind is finished before new
work is taken, a failing periodic job is retried rather than stopping the others, and
``sitin worker`` stops cleanly on SIGTERM."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from sitin.queue import PeriodicRunner
from sitin.worker.process import Worker

SITIN = Path(sys.executable).with_name("sitin")


def test_queued_tasks_run_on_the_workers_threads_and_leave_the_queue(ctx):
    ran: list[tuple[str, str]] = []
    done = threading.Event()

    def mark(value: str) -> None:
        ran.append((value, threading.current_thread().name))
        done.set()

    ctx.queue.register("test.mark", mark)
    ctx.queue.enqueue("test.mark", "queued before the worker started")
    assert ctx.queue.pending_count() == 1  # nothing runs a task but a worker
    worker = Worker(ctx.queue, threads=2, periodic=None)
    worker.start()
    try:
        assert done.wait(30), "the worker never ran the queued task"
    finally:
        worker.stop()
    [(value, thread)] = ran
    assert value == "queued before the worker started"
    assert thread != threading.current_thread().name
    assert ctx.queue.pending_count() == 0


def test_periodic_jobs_run_once_before_the_worker_takes_work_and_survive_failures(ctx):
    order: list[str] = []
    retried = threading.Event()
    failures = iter([True, False])

    def flaky_job() -> None:
        if next(failures, False):
            order.append("failed")
            raise RuntimeError("storage not reachable yet")
        order.append("retried")
        retried.set()

    runner = PeriodicRunner(tick=0.01)
    runner.add("recover", lambda: order.append("recovered"), every=3600)
    runner.add("flaky", flaky_job, every=0.01)
    ctx.queue.register("test.work", lambda: order.append("task"))
    ctx.queue.enqueue("test.work")
    worker = Worker(ctx.queue, threads=1, periodic=runner)
    worker.start()
    try:
        assert retried.wait(30), "a periodic job that failed once was never run again"
    finally:
        worker.stop()
    # the start-up pass over every job comes first: a crash's leftovers before new work
    assert order[:2] == ["recovered", "failed"]
    assert order.count("recovered") == 1 and "task" in order


def test_sitin_worker_stops_cleanly_on_sigterm(tmp_path):
    data_dir = str(tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITIN_")}
    env["PYTHONUNBUFFERED"] = "1"
    subprocess.run(
        [str(SITIN), "migrate", "--data-dir", data_dir], env=env, check=True, timeout=120
    )
    process = subprocess.Popen(
        [str(SITIN), "worker", "--data-dir", data_dir, "--threads", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        seen = []
        for line in process.stdout:  # the worker logs this once its signal handlers are set
            seen.append(line)
            if "sitin.worker.process: worker started (1 threads)" in line:
                break
        else:
            raise AssertionError(f"the worker exited before it started: {seen}")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, process.stdout.read()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
