"""The runtime's queue task (``bot.run``), its bot launcher and periodic jobs (staging, reaper).

``bot.run`` places a bot: the worker executing it claims the bot only with headroom for it and
when no live worker has clearly more room (``runtime.placement``); otherwise the task is queued
again, at once when another worker has room, every few seconds while every worker is full (the
bot waits in joining/staged, with one bot log entry saying why). A bot that finds no room within
SITIN_LAUNCH_TIMEOUT fails with bot_not_launched, as one no worker took."""

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
ELSEWHERE_RETRY_SECONDS = 0.2  # another worker has room: give it a moment to take the bot
MAX_DEFERRALS = 4  # after this many, a worker with room takes the bot even if another has more
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

    def run_bot(bot_id: str, deferrals: int = 0, waiting_logged: bool = False) -> None:
        if host is None or placement is None:
            raise RuntimeError("bot.run executed in a process without a bot host")
        outcome, live = placement.claim(bot_id, defer_to_others=deferrals < MAX_DEFERRALS)
        if outcome in (Claim.CLAIMED, Claim.ALREADY):
            if host.try_submit(bot_id):
                return
            placement.release(bot_id)  # the host's bot limit (SITIN_MAX_BOTS_PER_WORKER)
            outcome = Claim.FULL
        if outcome in (Claim.TAKEN, Claim.GONE):
            return
        if outcome == Claim.ELSEWHERE:
            queue.enqueue(
                RUN_BOT, bot_id, deferrals + 1, waiting_logged, delay=ELSEWHERE_RETRY_SECONDS
            )
            return
        bot = botstate.load_bot(ctx, bot_id)
        if bot is None:
            return
        cost = bot_cost(bot["settings"])
        others_with_room = [w for w in live if w.id != placement.worker_id and w.free >= cost]
        if others_with_room:
            queue.enqueue(RUN_BOT, bot_id, 0, waiting_logged, delay=ELSEWHERE_RETRY_SECONDS)
            return
        if not waiting_logged:
            from sitin.runtime.placement import describe_full

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
