"""The runtime's queue task (``bot.run``) and periodic jobs (staging, heartbeat reaper)."""

from sitin.context import AppContext
from sitin.runtime.supervision import reap_silent_bots, stage_due_bots
from sitin.worker.periodic import PeriodicRunner

HOST_FULL_RETRY_SECONDS = 5


def register(ctx: AppContext) -> None:
    def run_bot(bot_id: str) -> None:
        if ctx.bot_host is None:
            raise RuntimeError("bot.run executed in a process without a bot host")
        ctx.bot_host.submit(bot_id)  # HostFull -> huey retries later, maybe on another worker

    ctx.queue.register("bot.run", run_bot, retries=10_000, retry_delay=HOST_FULL_RETRY_SECONDS)
    ctx.launch_bot = lambda bot_id: ctx.queue.enqueue("bot.run", bot_id)


def register_periodic(ctx: AppContext, runner: PeriodicRunner) -> None:
    settings = ctx.settings
    runner.add("bot.stage", lambda: stage_due_bots(ctx), every=settings.scheduler_interval)
    runner.add("bot.reap", lambda: reap_silent_bots(ctx), every=settings.reaper_interval)
