"""Settings for a test's own sitin: a data dir in tmp, a given database, a fixed secret, and no
operator accounts at hosted providers (whatever the developer's environment holds): a test that
needs one says so in ``overrides``."""

from pathlib import Path

from sitin.config import Settings

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
