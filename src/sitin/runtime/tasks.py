"""The runtime's queue task (``bot.run``), its bot launcher and periodic jobs (staging, reaper).

``bot.run`` places a bot: the worker executing it puts the bot on the live worker with the most
room for it (``runtime.placement``), itself or another. While every worker is full the task is
queued again every few seconds (the bot waits in joining/staged, with one bot log entry saying
why). A bot that finds no room within SITIN_LAUNCH_TIMEOUT fails with bot_not_launched, as one
no worker took."""

from typing import TYPE_CHECKING

from sitin.context import AppContext
from sitin.core.capacity import bot_cost
from sitin.db.workers import Claim
from sitin.queue import PeriodicRunner, TaskQueue
from sitin.runtime import botstate
from sitin.runtime.supervision import reap_silent_bots, reap_silent_workers, stage_due_bots

if TYPE_CHECKING:  # the host pulls in the media stack; only bot-running processes import it
    from sitin.runtime.host import BotHost
    from sitin.runtime.placement import Placement

RUN_BOT = "bot.run"
FULL_RETRY_SECONDS = 2.0  # how often a bot waiting for room looks again
RETRY_ON_ERROR_SECONDS = 5


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


def register(ctx: AppContext, host: "BotHost | None", placement: "Placement | None" = None) -> None:
    """Register ``bot.run``: executed by ``host`` once ``placement`` claimed the bot (a process
    without a host only enqueues)."""
    queue = ctx.queue

    # ``_deferrals``: tasks queued by an older version carry it; it no longer means anything.
    def run_bot(bot_id: str, _deferrals: int = 0, waiting_logged: bool = False) -> None:
        if host is None or placement is None:
            raise RuntimeError("bot.run executed in a process without a bot host")
        outcome, live = placement.place(bot_id)
        if outcome in (Claim.CLAIMED, Claim.ALREADY) and placement.start_here(bot_id):
            return
        if outcome in (Claim.ASSIGNED, Claim.TAKEN, Claim.GONE):
            return
        # every worker is full (or this host runs its most bots): look again in a while
        if not waiting_logged:
            bot = botstate.load_bot(ctx, bot_id)
            if bot is None:
                return
            from sitin.runtime.placement import describe_full

            cost = bot_cost(bot["settings"])
            botstate.log(
                ctx, bot_id, level="info", entry_type="placement", message=describe_full(live, cost)
            )
        queue.enqueue(RUN_BOT, bot_id, 0, True, delay=FULL_RETRY_SECONDS)

    queue.register(RUN_BOT, run_bot, retries=10_000, retry_delay=RETRY_ON_ERROR_SECONDS)


def register_periodic(ctx: AppContext, runner: PeriodicRunner) -> None:
    settings = ctx.settings
    runner.add("bot.stage", lambda: stage_due_bots(ctx), every=settings.scheduler_interval)
    runner.add("bot.reap", lambda: reap_silent_bots(ctx), every=settings.reaper_interval)
    runner.add("worker.reap", lambda: reap_silent_workers(ctx), every=settings.reaper_interval)
