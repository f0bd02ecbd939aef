"""Settings for a test's own sitin: a data dir in tmp, a given database, a fixed secret, and no
operator accounts at hosted providers (whatever the developer's environment holds): a test that
needs one says so in ``overrides``."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sitin.config import Settings
from sitin.context import AppContext
from sitin.outbound import OutboundGuard, parse_host_rules

ROOM_URL = "http://127.0.0.1:8000/rooms/standup"


def make_settings(tmp_path: Path, database_url: str, **overrides) -> Settings:
    return Settings(
        **{
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "secret_key": "test-secret",
            **NO_OPERATOR_ACCOUNTS,
            **overrides,
        }
    )


NO_OPERATOR_ACCOUNTS = {
    "openai_api_key": None,
    "openai_base_url": None,
    "deepgram_api_key": None,
    "deepgram_base_url": None,
}


# Room servers in tests listen on 127.0.0.1 ports of their own: listed, as an operator would.
LOOPBACK_GUARD = OutboundGuard(listed=parse_host_rules("127.0.0.1"))


@contextmanager
def restarted(ctx: AppContext, **changes) -> Iterator[AppContext]:
    """The same deployment (database, data dir) started again with some settings changed."""
    from sitin.bootstrap import build_context
    from support.launcher import StandInLauncher

    again = build_context(
        ctx.settings.model_copy(update=changes), migrate=False, launcher=StandInLauncher()
    )
    try:
        yield again
    finally:
        again.close()
