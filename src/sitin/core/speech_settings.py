"""`POST /bots/{id}/speech`: the body's rules, and which text-to-speech engine speaks it.

Pure. Engines (the first key of `text_to_speech_settings` names one):
- `offline` (the default): SVOX Pico, in the server; `{"language": one of OFFLINE_LANGUAGES,
  "speed": 0.5-2.0}`. No account, no network.
- `openai`: any OpenAI-compatible `POST /audio/speech` endpoint with the project's `openai`
  account (the operator chooses the endpoint, never a bot); `{"model", "voice", "instructions"?}`.
- `google` (Attendee's shape `{"voice_language_code", "voice_name"}`): this server has no Google
  account, so the text is spoken offline in `voice_language_code` when Pico has that language
  (voice_name is ignored); otherwise 400 naming the languages and engines available.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ENGINES = ("offline", "openai", "google")
OFFLINE_LANGUAGES = ("en-US", "en-GB", "de-DE", "es-ES", "fr-FR", "it-IT")
OFFLINE_DEFAULT_LANGUAGE = "en-US"
MIN_SPEED, MAX_SPEED = 0.5, 2.0
MAX_TEXT_LENGTH = 5000
MAX_FIELD_LENGTH = 4096
OPENAI_DEFAULT_MODEL = "gpt-4o-mini-tts"
OPENAI_DEFAULT_VOICE = "alloy"


@dataclass(frozen=True)
class OfflineSpeech:
    language: str = OFFLINE_DEFAULT_LANGUAGE
    speed: float = 1.0


@dataclass(frozen=True)
class OpenAISpeech:
    model: str = OPENAI_DEFAULT_MODEL
    voice: str = OPENAI_DEFAULT_VOICE
    instructions: str | None = None


SpeechSettings = OfflineSpeech | OpenAISpeech


@dataclass(frozen=True)
class SpeechRequest:
    text: str
    settings: dict[str, Any]  # normalised: {"offline": {...}} or {"openai": {...}}


def validate_speech_request(body: Any) -> SpeechRequest:
    """The validated body of a speech request; ValueError says what was wrong."""
    if not isinstance(body, dict):
        raise ValueError("Body must be an object with text and text_to_speech_settings")
    unknown = sorted(set(body) - {"text", "text_to_speech_settings"})
    if unknown:
        raise ValueError(
            f"Unexpected field(s): {', '.join(unknown)}. Allowed: text, text_to_speech_settings"
        )
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text is required: the words the bot should say")
    if len(text) > MAX_TEXT_LENGTH:
        raise ValueError(f"text must be at most {MAX_TEXT_LENGTH} characters, not {len(text)}")
    return SpeechRequest(text.strip(), normalise(body.get("text_to_speech_settings")))


def normalise(value: Any) -> dict[str, Any]:
    """`text_to_speech_settings` as stored: exactly one engine with its validated options."""
    if value is None or value == {}:
        return {"offline": _offline({})}
    if not isinstance(value, dict):
        raise ValueError("text_to_speech_settings must be an object naming one engine")
    engines = [key for key in value if key in ENGINES]
    unknown = [key for key in value if key not in ENGINES]
    if unknown or len(engines) != 1:
        raise ValueError(
            "text_to_speech_settings must name exactly one engine; this server has "
            f"{', '.join(ENGINES)} (google is spoken by the offline engine)"
        )
    engine = engines[0]
    options = value[engine]
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise ValueError(f"text_to_speech_settings.{engine} must be an object")
    if engine == "offline":
        return {"offline": _offline(options)}
    if engine == "google":
        return {"offline": _from_google(options)}
    return {"openai": _openai(options)}


def _offline(options: dict[str, Any]) -> dict[str, Any]:
    _only(options, "offline", ("language", "speed"))
    language = options.get("language", OFFLINE_DEFAULT_LANGUAGE)
    if language not in OFFLINE_LANGUAGES:
        raise ValueError(
            f"offline.language must be one of {', '.join(OFFLINE_LANGUAGES)}, not {language!r}"[
                :300
            ]
        )
    speed = options.get("speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        raise ValueError(f"offline.speed must be a number from {MIN_SPEED} to {MAX_SPEED}")
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise ValueError(f"offline.speed must be from {MIN_SPEED} to {MAX_SPEED}")
    return {"language": language, "speed": float(speed)}


def _from_google(options: dict[str, Any]) -> dict[str, Any]:
    _only(options, "google", ("voice_language_code", "voice_name"))
    code = options.get("voice_language_code", OFFLINE_DEFAULT_LANGUAGE)
    for name in ("voice_language_code", "voice_name"):
        if name in options and not isinstance(options[name], str):
            raise ValueError(f"google.{name} must be a string")
    matches = [lang for lang in OFFLINE_LANGUAGES if lang.lower() == str(code).lower()]
    if not matches:
        raise ValueError(
            f"google.voice_language_code {str(code)[:40]!r} cannot be spoken: this server has no "
            "Google account and speaks google settings with its offline engine, which has "
            f"{', '.join(OFFLINE_LANGUAGES)}; engines: {', '.join(ENGINES)}"
        )
    return {"language": matches[0], "speed": 1.0}


def _openai(options: dict[str, Any]) -> dict[str, Any]:
    _only(options, "openai", ("model", "voice", "instructions"))
    result: dict[str, Any] = {
        "model": options.get("model", OPENAI_DEFAULT_MODEL),
        "voice": options.get("voice", OPENAI_DEFAULT_VOICE),
        "instructions": options.get("instructions"),
    }
    for name, item in result.items():
        if item is None and name == "instructions":
            continue
        if not isinstance(item, str) or not item.strip() or len(item) > MAX_FIELD_LENGTH:
            raise ValueError(
                f"openai.{name} must be a non-empty string of at most {MAX_FIELD_LENGTH} characters"
            )
    return result


def _only(options: dict[str, Any], engine: str, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"text_to_speech_settings.{engine}: Unexpected attribute: {unknown[0]}. "
            f"Allowed: {', '.join(allowed)}"
        )


def parse(settings: dict[str, Any]) -> SpeechSettings:
    """Stored (normalised) settings as a typed value for the engine that speaks them."""
    if "openai" in settings:
        options = settings["openai"]
        return OpenAISpeech(options["model"], options["voice"], options.get("instructions"))
    options = settings.get("offline", {})
    return OfflineSpeech(
        options.get("language", OFFLINE_DEFAULT_LANGUAGE), options.get("speed", 1.0)
    )
