"""Settings: every configuration value, validated when the process starts."""

from pathlib import Path

import pytest

from sitin.config import InvalidConfiguration, Settings, load_settings


def test_a_bad_provider_base_url_stops_the_start_naming_the_variable(tmp_path: Path):
    with pytest.raises(InvalidConfiguration) as caught:
        load_settings(data_dir=tmp_path, openai_api_key="sk", openai_base_url="api.example/v1")
    assert str(caught.value) == "SITIN_OPENAI_BASE_URL must be an http(s) URL"


def test_a_base_url_without_its_key_is_refused(tmp_path: Path):
    with pytest.raises(InvalidConfiguration, match="SITIN_DEEPGRAM_BASE_URL is set but"):
        load_settings(data_dir=tmp_path, deepgram_base_url="https://dg.internal")


def test_every_problem_is_named_at_once(tmp_path: Path):
    with pytest.raises(InvalidConfiguration) as caught:
        load_settings(data_dir=tmp_path, port=0, database_url="mysql://x")
    assert "SITIN_PORT" in str(caught.value) and "SITIN_DATABASE_URL" in str(caught.value)


def test_operator_accounts_come_with_their_endpoints_normalised():
    settings = Settings(
        openai_api_key=" sk-op ",
        openai_base_url="https://llm.internal/v1/",
        deepgram_api_key="",
        deepgram_base_url=None,
    )
    accounts = settings.provider_accounts
    assert set(accounts) == {"openai"}  # a blank key is no account
    assert (accounts["openai"].api_key, accounts["openai"].base_url) == (
        "sk-op",
        "https://llm.internal/v1",
    )
    assert "sk-op" not in repr(settings)


def test_fault_checkpoints_are_read_as_names(monkeypatch):
    monkeypatch.setenv("SITIN_FAULTS", "deletion.before_commit, deletion.mid_storage")
    assert Settings().fault_points == {"deletion.before_commit", "deletion.mid_storage"}
    assert Settings(faults="").fault_points == frozenset()
