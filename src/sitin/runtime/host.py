"""Runs many bots concurrently on one asyncio loop in a dedicated thread of a worker process.

Queue tasks (``bot.run``) hand bots over with ``submit``; the API's commands wake a bot's runner
directly when it runs in the API's process (tests; otherwise runners poll their commands). On
stop, every running bot leaves its meeting, keeps what it captured and is marked fatal_error /
process_terminated, so a worker restart never leaves a bot stuck in a joined state.
"""

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the runner pulls in the media stack, loaded with the first bot
    from sitin.runtime.runner import BotRunner

log = logging.getLogger(__name__)


class BotHost:
    """``on_finished(bot_id)`` is called (on a helper thread) when a bot's run is over."""

    def __init__(
        self,
        make_runner: Callable[[str], "BotRunner"],
        *,
        max_bots: int,
        on_finished: Callable[[str], None] | None = None,
    ):
        self.max_bots = max_bots
        self._make_runner = make_runner
        self._on_finished = on_finished
        self._runners: dict[str, BotRunner] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sitin-bots", daemon=True
        )
        self._thread.start()

    @property
    def running(self) -> list[str]:
        with self._lock:
            return list(self._runners)

    def try_submit(self, bot_id: str) -> bool:
        """Start running the bot (nothing to do if it already runs here); False when this host
        already runs ``max_bots``."""
        with self._lock:
            if bot_id in self._runners:
                return True
            if len(self._runners) >= self.max_bots:
                return False
            runner = self._make_runner(bot_id)
            self._runners[bot_id] = runner
        asyncio.run_coroutine_threadsafe(self._run(bot_id, runner), self._loop)
        return True

    async def _run(self, bot_id: str, runner: "BotRunner") -> None:
        self._tasks[bot_id] = asyncio.current_task()
        try:
            await runner.run()
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("bot %s crashed", bot_id)
        finally:
            self._tasks.pop(bot_id, None)
            with self._lock:
                self._runners.pop(bot_id, None)
            if self._on_finished is not None:
                try:
                    await asyncio.to_thread(self._on_finished, bot_id)
                except Exception:
                    log.exception("could not release bot %s", bot_id)

    def wake(self, bot_id: str) -> None:
        with self._lock:
            runner = self._runners.get(bot_id)
        if runner is not None:
            self._loop.call_soon_threadsafe(runner.wake.set)

    def stop(self, timeout: float = 40) -> None:
        async def cancel_all() -> None:
            tasks = list(self._tasks.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        future = asyncio.run_coroutine_threadsafe(cancel_all(), self._loop)
        try:
            future.result(timeout)
        except Exception:
            log.warning("some bots did not stop within %ss", timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
