"""The offline engine's threads run below the rest of the process, so receiving audio wins."""

import os
import threading

import numpy as np
import pytest

from sitin.transcription.offline import WhisperRuntime, default_model_dir, load_model
from sitin.transcription.priority import made_at_lower_priority
from transcription.real_speech import READER


def niceness(tid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


def busy_ticks(tid: int) -> int:
    """The thread's CPU time so far (0 once it has ended)."""
    try:
        with open(f"/proc/self/task/{tid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_threads_started_while_making_run_lower_and_the_caller_keeps_its_priority():
    mine = niceness(threading.get_native_id())
    started: list[int] = []

    def make() -> threading.Thread:
        ready = threading.Event()

        def run() -> None:
            started.append(threading.get_native_id())
            ready.set()
            release.wait(10)

        thread = threading.Thread(target=run)
        thread.start()
        ready.wait(10)
        return thread

    release = threading.Event()
    thread = made_at_lower_priority(make, 5)
    try:
        assert niceness(started[0]) == min(19, mine + 5)
        assert niceness(threading.get_native_id()) == mine
    finally:
        release.set()
        thread.join(10)


def test_what_making_raises_reaches_the_caller():
    def make() -> None:
        raise ValueError("no model here")

    with pytest.raises(ValueError, match="no model here"):
        made_at_lower_priority(make, 10)


def test_the_models_decoding_threads_run_at_its_lower_priority():
    mine = niceness(threading.get_native_id())
    before = {int(tid) for tid in os.listdir("/proc/self/task")}
    model = load_model(WhisperRuntime(default_model_dir(), niceness=10))
    threads = {int(tid) for tid in os.listdir("/proc/self/task")} - before
    ticks = {tid: busy_ticks(tid) for tid in threads}
    list(model.transcribe(np.array(READER[0].samples), beam_size=1, language="en")[0])
    worked = [tid for tid in threads if busy_ticks(tid) > ticks[tid]]
    assert worked, "no thread of the model's own did the decoding"
    assert all(niceness(tid) == min(19, mine + 10) for tid in worked)
    assert niceness(threading.get_native_id()) == mine


def test_a_system_refusing_a_threads_own_priority_still_gets_its_engine(monkeypatch, caplog):
    def refuse(*args) -> None:
        raise PermissionError("not here")

    monkeypatch.setattr(os, "setpriority", refuse)
    assert made_at_lower_priority(lambda: "engine", 10) == "engine"
    assert "could not lower the engine threads' priority" in caplog.text
