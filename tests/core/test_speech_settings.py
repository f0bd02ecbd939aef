"""POST /speech bodies: which engine speaks, with which options, and every refusal's message."""

import pytest

from sitin.core.speech_settings import (
    MAX_TEXT_LENGTH,
    OfflineSpeech,
    OpenAISpeech,
    parse,
    validate_speech_request,
)

ENGINES = "this server has offline, openai, google (google is spoken by the offline engine)"

# (id, text_to_speech_settings, stored settings)
ACCEPTED = [
    ("default-offline", None, {"offline": {"language": "en-US", "speed": 1.0}}),
    ("empty-is-default", {}, {"offline": {"language": "en-US", "speed": 1.0}}),
    (
        "offline-options",
        {"offline": {"language": "de-DE", "speed": 1.5}},
        {"offline": {"language": "de-DE", "speed": 1.5}},
    ),
    (
        "attendee-google-shape-speaks-offline",
        {"google": {"voice_language_code": "en-GB", "voice_name": "en-GB-Standard-A"}},
        {"offline": {"language": "en-GB", "speed": 1.0}},
    ),
    (
        "google-language-case-insensitive",
        {"google": {"voice_language_code": "fr-fr"}},
        {"offline": {"language": "fr-FR", "speed": 1.0}},
    ),
    (
        "openai-defaults",
        {"openai": {}},
        {"openai": {"model": "gpt-4o-mini-tts", "voice": "alloy", "instructions": None}},
    ),
    (
        "openai-options",
        {"openai": {"model": "tts-1", "voice": "nova", "instructions": "calm"}},
        {"openai": {"model": "tts-1", "voice": "nova", "instructions": "calm"}},
    ),
]


@pytest.mark.parametrize(
    ("settings", "stored"), [r[1:] for r in ACCEPTED], ids=[r[0] for r in ACCEPTED]
)
def test_accepted_settings(settings, stored):
    body = {"text": "  Hello there.  "}
    if settings is not None:
        body["text_to_speech_settings"] = settings
    request = validate_speech_request(body)
    assert request.text == "Hello there."
    assert request.settings == stored


# (id, body, the exact message)
REJECTED = [
    ("not-object", "hi", "Body must be an object with text and text_to_speech_settings"),
    (
        "unknown-field",
        {"text": "hi", "voice": "x"},
        "Unexpected field(s): voice. Allowed: text, text_to_speech_settings",
    ),
    ("no-text", {}, "text is required: the words the bot should say"),
    ("blank-text", {"text": "   "}, "text is required: the words the bot should say"),
    ("text-not-string", {"text": 5}, "text is required: the words the bot should say"),
    (
        "text-too-long",
        {"text": "a" * (MAX_TEXT_LENGTH + 1)},
        f"text must be at most {MAX_TEXT_LENGTH} characters, not {MAX_TEXT_LENGTH + 1}",
    ),
    (
        "settings-not-object",
        {"text": "hi", "text_to_speech_settings": "google"},
        "text_to_speech_settings must be an object naming one engine",
    ),
    (
        "unknown-engine",
        {"text": "hi", "text_to_speech_settings": {"elevenlabs": {}}},
        f"text_to_speech_settings must name exactly one engine; {ENGINES}",
    ),
    (
        "two-engines",
        {"text": "hi", "text_to_speech_settings": {"offline": {}, "openai": {}}},
        f"text_to_speech_settings must name exactly one engine; {ENGINES}",
    ),
    (
        "engine-options-not-object",
        {"text": "hi", "text_to_speech_settings": {"openai": "alloy"}},
        "text_to_speech_settings.openai must be an object",
    ),
    (
        "offline-unknown-option",
        {"text": "hi", "text_to_speech_settings": {"offline": {"pitch": 2}}},
        "text_to_speech_settings.offline: Unexpected attribute: pitch. Allowed: language, speed",
    ),
    (
        "offline-language",
        {"text": "hi", "text_to_speech_settings": {"offline": {"language": "pt-BR"}}},
        "offline.language must be one of en-US, en-GB, de-DE, es-ES, fr-FR, it-IT, not 'pt-BR'",
    ),
    (
        "offline-speed-range",
        {"text": "hi", "text_to_speech_settings": {"offline": {"speed": 3}}},
        "offline.speed must be from 0.5 to 2.0",
    ),
    (
        "offline-speed-type",
        {"text": "hi", "text_to_speech_settings": {"offline": {"speed": "fast"}}},
        "offline.speed must be a number from 0.5 to 2.0",
    ),
    (
        "offline-speed-nan",
        {"text": "hi", "text_to_speech_settings": {"offline": {"speed": float("nan")}}},
        "offline.speed must be from 0.5 to 2.0",
    ),
    (
        "google-language-the-offline-engine-lacks",
        {"text": "hi", "text_to_speech_settings": {"google": {"voice_language_code": "ja-JP"}}},
        "google.voice_language_code 'ja-JP' cannot be spoken: this server has no Google account "
        "and speaks google settings with its offline engine, which has en-US, en-GB, de-DE, "
        "es-ES, fr-FR, it-IT; engines: offline, openai, google",
    ),
    (
        "google-name-not-string",
        {"text": "hi", "text_to_speech_settings": {"google": {"voice_name": 3}}},
        "google.voice_name must be a string",
    ),
    (
        "openai-voice-empty",
        {"text": "hi", "text_to_speech_settings": {"openai": {"voice": ""}}},
        "openai.voice must be a non-empty string of at most 4096 characters",
    ),
    (
        "openai-unknown-option",
        {"text": "hi", "text_to_speech_settings": {"openai": {"base_url": "http://x"}}},
        "text_to_speech_settings.openai: Unexpected attribute: base_url. "
        "Allowed: model, voice, instructions",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED]
)
def test_rejected_bodies_say_what_is_allowed(body, message):
    with pytest.raises(ValueError) as caught:
        validate_speech_request(body)
    assert str(caught.value) == message


def test_stored_settings_parse_to_the_engine_options():
    assert parse({"offline": {"language": "it-IT", "speed": 0.8}}) == OfflineSpeech("it-IT", 0.8)
    assert parse({"openai": {"model": "m", "voice": "v", "instructions": None}}) == OpenAISpeech(
        "m", "v", None
    )
