"""``sitin serve``, ``sitin worker`` and ``sitin migrate``: running the service."""

import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import click

from sitin.bootstrap import build_worker, periodic_jobs
from sitin.cli.options import data_dir_option, logging_options, open_context, settings
from sitin.config import Settings, cores
from sitin.context import AppContext
from sitin.core.capacity import RECORDING_COST, UNITS_PER_CORE, bot_cost, default_capacity
from sitin.datadir import make_private
from sitin.db import api_keys, projects
from sitin.db.migrate import upgrade
from sitin.logs import configure_logging
from sitin.worker.supervisor import Child, Supervisor, bot_workers, sitin_command


@click.command()
@click.option("--host", default=None, help="Interface to listen on (env SITIN_HOST; 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (env SITIN_PORT; 8000).")
@data_dir_option
@click.option(
    "--workers",
    type=click.IntRange(min=0, max=256),
    default=None,
    help="Bot worker processes to run and supervise (env SITIN_WORKERS; one per core; "
    "0: none, run `sitin worker` elsewhere).",
)
@click.option("--no-worker", is_flag=True, help="The same as --workers 0.")
@click.option(
    "--api-workers",
    type=click.IntRange(min=1, max=64),
    default=None,
    help="API processes (env SITIN_API_WORKERS; default one per core).",
)
@logging_options
def serve(
    host: str | None,
    port: int | None,
    workers: int | None,
    api_workers: int | None,
    no_worker: bool,
    log_level: str | None,
    log_format: str | None,
) -> None:
    """Run the API, the meeting rooms and (unless --workers 0) the bot workers."""
    import uvicorn

    from sitin.api.app import create_app, server_options

    overrides = {
        "host": host,
        "port": port,
        "workers": 0 if no_worker else workers,
        "api_workers": api_workers,
        "log_level": log_level,
        "log_format": log_format,
    }
    _start_logging(settings(**overrides))
    # Bots run in the worker processes, not here: this process serves the API and the rooms.
    with open_context(create=True, **overrides) as ctx:
        _first_start(ctx)
        chosen = ctx.settings
        if chosen.resolved_workers and chosen.run_periodic:
            # What a crash left (half-done deletions, bots of a dead worker) is finished before
            # the API answers; the first worker then runs the periodic jobs.
            periodic_jobs(ctx).run_all_now()
        api_workers = chosen.resolved_api_workers
        children = bot_workers(chosen.resolved_workers, periodic=chosen.run_periodic)
        with ExitStack() as stack:
            if api_workers > 1:
                # The API processes listen on the port together (SO_REUSEPORT: the kernel
                # spreads connections over them); this process holds the port against anyone
                # else, holds the rooms and serves them to the API processes on a unix socket.
                stack.enter_context(_port_socket(chosen.host, chosen.port, listen=False))
                hub = stack.enter_context(_rooms_hub_socket())
                children += api_processes(api_workers, hub)
                serving = {"uds": hub}
            else:
                serving = {"host": chosen.host, "port": chosen.port}
            supervisor = Supervisor(children, env=child_environment(chosen))
            supervisor.start()
            stack.callback(supervisor.stop)
            click.echo(
                f"sitin listening on http://{chosen.host}:{chosen.port}  (docs: /api/docs; "
                f"{api_workers} API process(es), {chosen.resolved_workers} bot worker "
                "process(es))"
            )
            with _signals_stop_the_server():
                uvicorn.run(
                    create_app(ctx),
                    **serving,
                    # Records go through sitin's logging; sitin.logs sets uvicorn's levels too.
                    log_config=None,
                    log_level=None,
                    access_log=False,  # sitin.api.access_log logs route templates, not raw paths
                    **server_options(chosen),
                )


def api_processes(count: int, rooms_hub: str) -> list[Child]:
    command = sitin_command("api-process", "--rooms-hub", rooms_hub)
    return [Child(f"API process {index}", command) for index in range(count)]


@contextmanager
def _port_socket(host: str, port: int, *, listen: bool) -> Iterator[socket.socket]:
    """A socket on ``host:port`` shared with this user's other processes (SO_REUSEPORT)."""
    family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        if listen:
            sock.listen(2048)
        yield sock
    finally:
        sock.close()


@contextmanager
def _rooms_hub_socket() -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="sitin-rooms-")  # 0700: only this user reaches the hub
    try:
        yield os.path.join(folder, "hub.sock")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@click.command("api-process", hidden=True)
@data_dir_option
@click.option("--rooms-hub", required=True)
@click.option("--parent-pid", type=int, required=True)
def api_process(rooms_hub: str, parent_pid: int) -> None:
    """One of `sitin serve --api-workers N`'s API processes (started by it, never by hand)."""
    import uvicorn

    from sitin.api.app import create_app, server_options

    chosen = settings()
    _start_logging(chosen)
    threading.Thread(target=_stop_when_orphaned, args=(parent_pid,), daemon=True).start()
    with (
        open_context() as ctx,
        _port_socket(chosen.host, chosen.port, listen=True) as listener,
    ):
        config = uvicorn.Config(
            create_app(ctx, rooms_hub=rooms_hub),
            log_config=None,
            log_level=None,
            access_log=False,
            **server_options(chosen),
        )
        with _signals_stop_the_server():
            uvicorn.Server(config).run(sockets=[listener])


def _stop_when_orphaned(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


class _StopRequested(Exception):
    pass


@contextmanager
def _signals_stop_the_server() -> Iterator[None]:
    """SIGTERM and SIGINT end the server cleanly: uvicorn finishes its connections and, as it
    re-raises the signal it caught, this handler unwinds into stopping the workers."""

    def stop(_sig: int, _frame: object) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)  # a second signal must not cut the stopping short
        raise _StopRequested

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    except _StopRequested:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def child_environment(chosen: Settings) -> dict[str, str]:
    """The environment of serve's child processes: this process's, with the settings its flags
    chose (they must reach the same data and allow bots into this server's rooms)."""
    return {
        **os.environ,
        "SITIN_DATA_DIR": str(chosen.data_dir),
        "SITIN_HOST": chosen.host,
        "SITIN_PORT": str(chosen.port),
        "SITIN_LOG_LEVEL": chosen.log_level,
        "SITIN_LOG_FORMAT": chosen.log_format,
        # the machine's cores shared among the workers, unless the operator set a capacity
        "SITIN_WORKER_CAPACITY": str(
            chosen.worker_capacity or default_capacity(cores(), chosen.resolved_workers)
        ),
    }


@click.command()
@data_dir_option
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Task threads (env SITIN_WORKER_THREADS; 8).",
)
@click.option(
    "--no-periodic",
    is_flag=True,
    help="Do not run periodic jobs (exactly one worker in a deployment should run them).",
)
@click.option(
    "--capacity",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help=(
        "Load units this worker carries (env SITIN_WORKER_CAPACITY; a record-only bot is "
        f"{RECORDING_COST:g}, transcribing offline {bot_cost({}):g}; default "
        f"{UNITS_PER_CORE:g} per core, at most {UNITS_PER_CORE:g})."
    ),
)
@click.option("--parent-pid", type=int, default=None, hidden=True)  # set by `sitin serve`
@logging_options
def worker(
    threads: int | None,
    no_periodic: bool,
    capacity: float | None,
    parent_pid: int | None,
    log_level: str | None,
    log_format: str | None,
) -> None:
    """Run a worker: bots, webhook deliveries and (unless --no-periodic) periodic jobs."""
    overrides = {
        "log_level": log_level,
        "log_format": log_format,
        "worker_threads": threads,
        "worker_capacity": capacity,
    }
    _start_logging(settings(**overrides))
    with open_context(run_bots=True, **overrides) as ctx:
        click.echo(
            f"sitin worker started ({ctx.settings.worker_threads} threads, "
            f"{ctx.settings.resolved_worker_capacity:g} load units)"
        )
        build_worker(ctx, periodic=not no_periodic).run_forever(parent_pid=parent_pid)


def _start_logging(chosen: Settings) -> None:
    configure_logging(chosen.log_level, chosen.log_format)


def _first_start(ctx: AppContext) -> None:
    """On the very first start, create the default project and print its API key once. Every
    start seals captured rows an older version stored in plaintext (and, on the first start with
    an empty key store, an upgrade, its blobs too)."""
    from sitin.encryption.existing import seal_existing

    seal_existing(ctx, blobs=ctx.keys.is_empty())
    with ctx.db.write() as tx:
        if projects.list_all(tx.conn):
            return
        project_id = projects.create(tx.conn, name=projects.DEFAULT_PROJECT)
        _key_id, key = api_keys.create(tx.conn, project_id=project_id, name="first start")
    click.echo(
        "Created project 'default'. Its API key is shown only this once; keep it:\n"
        f"  Authorization: Token {key}"
    )


@click.command()
@data_dir_option
def migrate() -> None:
    """Bring the database schema up to date, creating the database if there is none (also done
    automatically on start)."""
    chosen = settings()
    make_private(chosen.data_dir)  # created as every creating command does: 0700, files 0600
    upgrade(chosen.resolved_database_url)
    click.echo(f"database is up to date ({_shown_url(chosen.resolved_database_url)})")


def _shown_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
