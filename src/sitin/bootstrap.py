"""The composition root: the one place a sitin process is wired together.

``build_context`` builds the frozen ``AppContext`` (queue, key store, database with its event
listeners, sealed blob store, bot launcher, outbound guard), registers every task on the queue
and, in processes that run bots, the bot host. ``build_worker`` adds the consumer and every
periodic job. ``sitin serve``, ``sitin worker``, the other CLI commands, the benchmarks and the
tests all start here; nothing else imports across packages to register itself, and nothing
mutates the context afterwards.
"""

from sitin.config import Settings
from sitin.context import AppContext, BotLauncher
from sitin.datadir import make_private
from sitin.db.engine import Database
from sitin.db.migrate import upgrade
from sitin.deletion import tasks as deletion_tasks
from sitin.encryption import KeyStore, MasterKeys
from sitin.logs import log_bot_event
from sitin.outbound import OutboundGuard
from sitin.queue import PeriodicRunner, TaskQueue
from sitin.rooms.passes import RoomPasses
from sitin.runtime import tasks as runtime_tasks
from sitin.runtime.placement import Placement
from sitin.storage import open_blob_store
from sitin.webhooks import tasks as webhook_tasks
from sitin.webhooks.dispatch import on_bot_event
from sitin.worker.process import Worker

# Every listener a recorded bot event is handed to, inside its transaction.
EVENT_LISTENERS = (on_bot_event, log_bot_event)


def build_context(
    settings: Settings,
    *,
    migrate: bool = True,
    run_bots: bool = False,
    launcher: BotLauncher | None = None,
) -> AppContext:
    """The process's context. ``run_bots``: this process executes ``bot.run`` (``sitin worker``,
    also as ``sitin serve``'s child); ``launcher`` replaces the queue-backed launcher (tests that
    stand in for the runtime)."""
    make_private(settings.data_dir)
    if migrate:
        upgrade(settings.resolved_database_url)
    queue = TaskQueue(settings.resolved_queue_url, settings.queue_name)
    current, previous = settings.master_secrets
    keys = KeyStore(settings.resolved_keystore_url, MasterKeys.from_secrets(current, previous))
    db = Database(
        settings.resolved_database_url,
        queue=queue,
        event_listeners=EVENT_LISTENERS,
        pool_size=settings.database_pool_size or database_pool_size(settings, run_bots=run_bots),
        keys=keys,
    )
    blobs = open_blob_store(
        settings.resolved_storage_url,
        keys=keys,
        secret_key=settings.resolved_secret_key,
        public_url=settings.resolved_public_url,
        s3_endpoint_url=settings.s3_endpoint_url,
    )
    host = placement = None
    if run_bots:
        from sitin.runtime.host import BotHost

        def make_runner(bot_id: str):
            # Imported with the first bot, not when the worker starts: the media stack (PyAV,
            # aiortc, faster-whisper) is ~45 MB of an idle worker's memory.
            from sitin.runtime.runner import BotRunner

            return BotRunner(ctx, bot_id)

        # Runners are made only when a bot.run task executes, after ``ctx`` below exists; a
        # finished bot's claim is released by the placement made below.
        host = BotHost(
            make_runner,
            max_bots=settings.max_bots_per_worker,
            on_finished=lambda bot_id: placement.release(bot_id),
        )
    ctx = AppContext(
        settings=settings,
        db=db,
        keys=keys,
        blobs=blobs,
        queue=queue,
        bots=launcher or runtime_tasks.QueuedLauncher(queue, host),
        outbound=OutboundGuard.from_settings(settings),
        room_passes=RoomPasses(settings.resolved_secret_key),
    )
    if host is not None:
        placement = Placement(ctx, host, capacity=settings.resolved_worker_capacity)
    runtime_tasks.register(ctx, host, placement)
    webhook_tasks.register(ctx)
    if host is not None:
        placement.start()
        ctx.on_close(placement.stop)  # after the bots stopped: the worker leaves the table
        ctx.on_close(host.stop)  # registered last, so bots stop before what they use closes
    return ctx


# Threads beyond the API's and the worker's that may hold a connection: the periodic runner and
# the context's helper threads.
_OTHER_THREADS = 1 + 4


def database_pool_size(settings: Settings, *, run_bots: bool) -> int:
    """Connections for every thread of this process that may use the database at once: the
    API's (blocking routes and reads), the worker's task threads, each running bot's capture
    writer."""
    bots = settings.max_bots_per_worker if run_bots else 0
    api = settings.api_threads + settings.api_read_threads
    return api + settings.worker_threads + bots + _OTHER_THREADS


def periodic_jobs(ctx: AppContext, *, tick: float = 0.5) -> PeriodicRunner:
    """Every package's periodic jobs (exactly one process in a deployment runs them)."""
    runner = PeriodicRunner(tick=tick)
    deletion_tasks.register_periodic(ctx, runner)
    runtime_tasks.register_periodic(ctx, runner)
    webhook_tasks.register_periodic(ctx, runner)
    return runner


def build_worker(ctx: AppContext, *, threads: int | None = None, periodic: bool = True) -> Worker:
    """A worker executing the context's queue on ``threads`` (default: the ``worker_threads``
    setting), with the periodic jobs unless ``periodic=False``."""
    return Worker(
        ctx.queue,
        threads=threads or ctx.settings.worker_threads,
        periodic=periodic_jobs(ctx) if periodic else None,
    )
