"""The runtime's queue task (``bot.run``), its bot launcher and periodic jobs (staging, reaper)."""

from typing import TYPE_CHECKING

from sitin.context import AppContext
from sitin.queue import PeriodicRunner, TaskQueue
from sitin.runtime.supervision import reap_silent_bots, stage_due_bots

if TYPE_CHECKING:  # the host pulls in the media stack; only bot-running processes import it
    from sitin.runtime.host import BotHost

RUN_BOT = "bot.run"
HOST_FULL_RETRY_SECONDS = 5


class QueuedLauncher:
    """Launching queues ``bot.run`` for whichever worker takes it; waking reaches the runner only
    when it runs in this process (other runners poll their commands)."""

    def __init__(self, queue: TaskQueue, host: "BotHost | None"):
        self._queue = queue
        self._host = host

    def launch(self, bot_id: str) -> None:
        self._queue.enqueue(RUN_BOT, bot_id)

    def wake(self, bot_id: str) -> None:
        if self._host is not None:
            self._host.wake(bot_id)


def register(queue: TaskQueue, host: "BotHost | None") -> None:
    """Register ``bot.run``: executed by ``host`` (a process without one only enqueues)."""

    def run_bot(bot_id: str) -> None:
        if host is None:
            raise RuntimeError("bot.run executed in a process without a bot host")
        host.submit(bot_id)  # HostFull -> huey retries later, maybe on another worker

    queue.register(RUN_BOT, run_bot, retries=10_000, retry_delay=HOST_FULL_RETRY_SECONDS)


def register_periodic(ctx: AppContext, runner: PeriodicRunner) -> None:
    settings = ctx.settings
    runner.add("bot.stage", lambda: stage_due_bots(ctx), every=settings.scheduler_interval)
    runner.add("bot.reap", lambda: reap_silent_bots(ctx), every=settings.reaper_interval)
