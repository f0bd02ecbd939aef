"""A bot launcher that stands in for the runtime: it records every launch and wake, and a test may
answer them (confirm a pause, join at once) the way a running bot would."""

from collections.abc import Callable


class StandInLauncher:
    def __init__(
        self,
        *,
        on_launch: Callable[[str], None] | None = None,
        on_wake: Callable[[str], None] | None = None,
    ):
        self.launched: list[str] = []
        self.woken: list[str] = []
        self.on_launch = on_launch
        self.on_wake = on_wake

    def launch(self, bot_id: str) -> None:
        self.launched.append(bot_id)
        if self.on_launch is not None:
            self.on_launch(bot_id)

    def wake(self, bot_id: str) -> None:
        self.woken.append(bot_id)
        if self.on_wake is not None:
            self.on_wake(bot_id)
