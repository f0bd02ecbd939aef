"""Every package's tasks and periodic jobs, registered on a context's queue in one place."""

from sitin.context import AppContext
from sitin.worker.periodic import PeriodicRunner


def register_tasks(ctx: AppContext) -> None:
    """Register task names on the queue (needed both to enqueue and to execute)."""
    from sitin.runtime import tasks as runtime_tasks
    from sitin.webhooks import tasks as webhook_tasks

    runtime_tasks.register(ctx)
    webhook_tasks.register(ctx)


def register_periodic(ctx: AppContext, runner: PeriodicRunner) -> None:
    from sitin.deletion import tasks as deletion_tasks
    from sitin.runtime import tasks as runtime_tasks
    from sitin.webhooks import tasks as webhook_tasks

    deletion_tasks.register_periodic(ctx, runner)
    runtime_tasks.register_periodic(ctx, runner)
    webhook_tasks.register_periodic(ctx, runner)
