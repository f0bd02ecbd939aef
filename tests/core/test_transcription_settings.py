"""`transcription_settings`: defaults, precedence, typed values and errors that name the key."""

import pytest

from sitin.core.transcription_settings import (
    DeepgramSettings,
    OfflineSettings,
    OpenAISettings,
    ProviderAccount,
    RecordOnlySettings,
    chosen_provider,
    normalise_base_url,
    parse_transcription_settings,
    validate_transcription_settings,
    wants_accuracy_pass,
)


def test_nothing_given_means_offline():
    assert validate_transcription_settings(None) == {"offline": {}}
    assert validate_transcription_settings({}) == {"offline": {}}
    assert parse_transcription_settings({}) == ("offline", OfflineSettings())


def test_deepgram_gets_multi_language_by_default_like_attendee():
    assert validate_transcription_settings({"deepgram": {}}) == {"deepgram": {"language": "multi"}}
    stored = validate_transcription_settings({"deepgram": {"detect_language": True}})
    assert stored == {"deepgram": {"detect_language": True}}


def test_validation_returns_a_copy():
    given = {"deepgram": {"model": "nova-2"}}
    validate_transcription_settings(given)
    assert given == {"deepgram": {"model": "nova-2"}}


def test_deepgram_wins_over_openai_over_offline():
    name, settings = parse_transcription_settings(
        {"offline": {}, "openai": {"model": "whisper-1"}, "deepgram": {"model": "nova-2"}}
    )
    assert name == "deepgram" and isinstance(settings, DeepgramSettings)
    name, settings = parse_transcription_settings({"offline": {}, "openai": {"model": "m"}})
    assert name == "openai" and isinstance(settings, OpenAISettings)
    assert chosen_provider({"offline": {}, "openai": {"model": "m"}}) == "openai"
    assert chosen_provider(None) == "offline"


def test_none_records_only():
    assert validate_transcription_settings({"none": {}}) == {"none": {}}
    assert parse_transcription_settings({"none": {}}) == ("none", RecordOnlySettings())
    assert chosen_provider({"none": {}}) == "none"


def test_parsed_values():
    _, openai = parse_transcription_settings(
        {"openai": {"model": "whisper-1", "language": "de", "prompt": "Sitin"}}
    )
    assert openai == OpenAISettings(model="whisper-1", language="de", prompt="Sitin")
    _, deepgram = parse_transcription_settings(
        {"deepgram": {"use_eu_server": True, "keywords": ["sitin"], "replace": ["kpi:KPI"]}}
    )
    assert deepgram.deepgram_host == "https://api.eu.deepgram.com"
    assert DeepgramSettings().deepgram_host == "https://api.deepgram.com"
    assert (deepgram.model, deepgram.language) == ("nova-3", "multi")
    assert (deepgram.keywords, deepgram.replace) == (("sitin",), ("kpi:KPI",))


@pytest.mark.parametrize("provider", ["openai", "deepgram"])
def test_the_endpoint_is_not_a_bot_setting(provider):
    settings = {provider: {"model": "m", "base_url": "https://evil.example/v1"}}
    with pytest.raises(ValueError) as caught:
        validate_transcription_settings(settings)
    message = str(caught.value)
    assert f"transcription_settings.{provider}.base_url is not accepted" in message
    assert f"sitin credentials set --project <project> {provider} --base-url" in message


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ([], "transcription_settings must be an object"),
        ({"gladia": {}}, "transcription_settings.gladia: unsupported transcription provider"),
        ({"openai": {}}, "transcription_settings.openai.model is required"),
        ({"openai": {"model": ""}}, "transcription_settings.openai.model must be a non-empty"),
        ({"openai": {"model": "m", "temperature": 0}}, "transcription_settings.openai.temperature"),
        ({"openai": {"model": "m", "response_format": "srt"}}, "openai.response_format"),
        ({"offline": {"model_dir": "/etc"}}, "transcription_settings.offline.model_dir"),
        ({"offline": "yes"}, "transcription_settings.offline must be an object"),
        ({"offline": {"accuracy_pass": "yes"}}, "offline.accuracy_pass must be true or false"),
        ({"openai": {"model": "m", "accuracy_pass": True}}, "openai.accuracy_pass: unknown key"),
        ({"deepgram": {"callback": "https://x"}}, "deepgram.callback is not supported"),
        ({"deepgram": {"detect_language": "yes"}}, "deepgram.detect_language must be true or"),
        ({"deepgram": {"detect_language": True, "language": "en"}}, "deepgram.detect_language"),
        ({"deepgram": {"use_eu_server": "yes"}}, "deepgram.use_eu_server must be true or false"),
        ({"deepgram": {"redact": ["emails"]}}, "deepgram.redact: 'emails' is not one of"),
        ({"deepgram": {"keyterms": "sitin"}}, "deepgram.keyterms must be a list"),
        ({"deepgram": {"replace": ["no-colon"]}}, "deepgram.replace items"),
        ({"deepgram": {}, "offline": {"bogus": 1}}, "transcription_settings.offline.bogus"),
        ({"none": {"language": "en"}}, "transcription_settings.none.language: unknown key"),
        ({"none": None}, "transcription_settings.none must be an object"),
        (
            {"none": {}, "openai": {"model": "m"}},
            "transcription_settings.none (record only) cannot be combined with openai",
        ),
        (
            {"offline": {}, "none": {}, "deepgram": {}},
            "transcription_settings.none (record only) cannot be combined with offline, deepgram",
        ),
    ],
)
def test_bad_settings_are_rejected_naming_the_key(settings, message):
    with pytest.raises(ValueError) as caught:
        validate_transcription_settings(settings)
    assert message in str(caught.value)


def test_base_urls_must_be_http_and_lose_the_trailing_slash():
    assert normalise_base_url(" http://127.0.0.1:9000/v1/ ") == "http://127.0.0.1:9000/v1"
    for bad in ("ftp://host/v1", "127.0.0.1:9000", "https://", ""):
        with pytest.raises(ValueError, match="base URL must be an http"):
            normalise_base_url(bad)


def test_an_account_never_shows_its_key():
    account = ProviderAccount(api_key="sk-very-secret", base_url="http://127.0.0.1:9000/v1")
    assert "sk-very-secret" not in repr(account) and "sk-very-secret" not in str(account)
    assert "127.0.0.1:9000" in repr(account)


def test_the_accuracy_pass_is_asked_for_on_the_offline_engine_only():
    assert wants_accuracy_pass({"offline": {"accuracy_pass": True}})
    assert not wants_accuracy_pass({"offline": {"accuracy_pass": False}})
    assert not wants_accuracy_pass({"offline": {}})
    assert not wants_accuracy_pass(None)
    # a hosted provider that wins over the offline engine transcribes: no pass
    assert not wants_accuracy_pass(
        {"offline": {"accuracy_pass": True}, "deepgram": {"model": "nova-3"}}
    )
    stored = validate_transcription_settings({"offline": {"accuracy_pass": True}})
    assert stored == {"offline": {"accuracy_pass": True}}
    assert parse_transcription_settings(stored)[1] == OfflineSettings(accuracy_pass=True)
