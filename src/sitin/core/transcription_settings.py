"""A bot's `transcription_settings` (Attendee's shape, sitin's providers), and provider accounts.

Shape: `{"<provider>": {...}}`. When several providers are given, the first one in
`PROVIDER_PRECEDENCE` wins (as in Attendee, where deepgram comes before openai); nothing given
means the offline engine; `{"none": {}}` records without transcribing and cannot be combined.
Every error is a ValueError whose message names the offending key.

Where a hosted provider is reached is not a bot setting: an API client could otherwise have the
server send the project's stored API key to any URL. The endpoint belongs to the operator's
`ProviderAccount` (`sitin credentials set --base-url`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

PROVIDER_PRECEDENCE = ("deepgram", "openai", "offline", "none")
DEFAULT_PROVIDER = "offline"
RECORD_ONLY = "none"
HOSTED_PROVIDERS = ("openai", "deepgram")
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEEPGRAM_DEFAULT_BASE_URL = "https://api.deepgram.com"
DEEPGRAM_EU_BASE_URL = "https://api.eu.deepgram.com"
DEEPGRAM_REDACT_VALUES = ("pci", "pii", "numbers")


@dataclass(frozen=True)
class ProviderAccount:
    """How the server reaches a hosted provider: its API key and, if not the provider's own
    public endpoint, the base URL the operator chose. Never comes from a bot's settings."""

    api_key: str = field(repr=False)
    base_url: str | None = None


def normalise_base_url(value: str, *, name: str = "base URL") -> str:
    """`value` without a trailing slash; ValueError unless it is an http(s) URL with a host."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name} must be an http(s) URL")
    return value.strip().rstrip("/")


@dataclass(frozen=True)
class RecordOnlySettings:
    """`{"none": {}}`: the meeting is recorded, nothing is transcribed."""


@dataclass(frozen=True)
class OfflineSettings:
    language: str = "en"
    prompt: str | None = None
    # after the meeting, each participant's whole track is transcribed again by the same model
    # and replaces the realtime utterances (sitin's addition; see runtime/accuracy_pass.py)
    accuracy_pass: bool = False


@dataclass(frozen=True)
class OpenAISettings:
    model: str
    language: str | None = None
    prompt: str | None = None
    response_format: str | None = None  # None: verbose_json, or json for gpt-4o* models


@dataclass(frozen=True)
class DeepgramSettings:
    model: str = "nova-3"
    language: str | None = "multi"  # None when detect_language is on
    detect_language: bool = False
    smart_format: bool = True
    keyterms: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    redact: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    use_eu_server: bool = False

    @property
    def deepgram_host(self) -> str:
        """Deepgram's own endpoint for these settings (an operator's base URL replaces it)."""
        return DEEPGRAM_EU_BASE_URL if self.use_eu_server else DEEPGRAM_DEFAULT_BASE_URL


ProviderSettings = RecordOnlySettings | OfflineSettings | OpenAISettings | DeepgramSettings


def validate_transcription_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check a `transcription_settings` dict and return a normalised copy to store.

    Raises ValueError naming the bad key. An empty or missing dict becomes `{"offline": {}}`.
    """
    parse_transcription_settings(settings)
    normalised = copy.deepcopy(dict(settings or {})) or {DEFAULT_PROVIDER: {}}
    deepgram = normalised.get("deepgram")
    if deepgram is not None and "language" not in deepgram and not deepgram.get("detect_language"):
        deepgram["language"] = "multi"
    return normalised


def wants_accuracy_pass(settings: Mapping[str, Any] | None) -> bool:
    """Whether these (validated) settings ask for the post-meeting accuracy pass: the offline
    engine with `accuracy_pass: true`."""
    parsed = parse_transcription_settings(settings)[1]
    return isinstance(parsed, OfflineSettings) and parsed.accuracy_pass


def chosen_provider(settings: Mapping[str, Any] | None) -> str:
    """Name of the provider these settings select: "deepgram", "openai", "offline" or "none"."""
    return parse_transcription_settings(settings)[0]


def parse_transcription_settings(
    settings: Mapping[str, Any] | None,
) -> tuple[str, ProviderSettings]:
    """(provider name, typed settings) of the provider that wins; validates every given key."""
    if settings is None:
        settings = {}
    if not isinstance(settings, Mapping):
        raise ValueError("transcription_settings must be an object")
    unknown = [key for key in settings if key not in PROVIDER_PRECEDENCE]
    if unknown:
        raise ValueError(
            f"transcription_settings.{unknown[0]}: unsupported transcription provider; "
            f"use one of {', '.join(PROVIDER_PRECEDENCE)}"
        )
    others = [key for key in settings if key != RECORD_ONLY]
    if RECORD_ONLY in settings and others:
        raise ValueError(
            f"transcription_settings.{RECORD_ONLY} (record only) cannot be combined with "
            f"{', '.join(others)}: give one or the other"
        )
    parsed = {name: _PARSERS[name](settings[name]) for name in settings}
    for name in PROVIDER_PRECEDENCE:
        if name in parsed:
            return name, parsed[name]
    return DEFAULT_PROVIDER, OfflineSettings()


def _endpoint_refusal(provider: str) -> str:
    return (
        f"transcription_settings.{provider}.base_url is not accepted: the {provider} endpoint is "
        "part of the project's credentials, set by the server operator with "
        f"`sitin credentials set --project <project> {provider} --base-url URL`"
    )


def _parse_record_only(raw: Any) -> RecordOnlySettings:
    _Fields(RECORD_ONLY, raw, allowed=())
    return RecordOnlySettings()


def _parse_offline(raw: Any) -> OfflineSettings:
    fields = _Fields("offline", raw, allowed=("language", "prompt", "accuracy_pass"))
    return OfflineSettings(
        language=fields.string("language") or "en",
        prompt=fields.string("prompt"),
        accuracy_pass=fields.boolean("accuracy_pass", default=False),
    )


def _parse_openai(raw: Any) -> OpenAISettings:
    fields = _Fields(
        "openai",
        raw,
        allowed=("model", "language", "prompt", "response_format"),
        refused={"base_url": _endpoint_refusal("openai")},
    )
    model = fields.string("model", required=True)
    response_format = fields.string("response_format")
    if response_format not in (None, "json", "verbose_json"):
        raise ValueError(
            "transcription_settings.openai.response_format must be 'json' or 'verbose_json'"
        )
    return OpenAISettings(
        model=model,
        language=fields.string("language"),
        prompt=fields.string("prompt"),
        response_format=response_format,
    )


def _parse_deepgram(raw: Any) -> DeepgramSettings:
    fields = _Fields(
        "deepgram",
        raw,
        allowed=(
            "language",
            "detect_language",
            "keyterms",
            "keywords",
            "model",
            "redact",
            "replace",
            "use_eu_server",
            "smart_format",
        ),
        refused={
            "callback": "transcription_settings.deepgram.callback is not supported: "
            "sitin needs the transcripts back to store them",
            "base_url": _endpoint_refusal("deepgram"),
        },
    )
    detect_language = fields.boolean("detect_language", default=False)
    language = fields.string("language")
    if detect_language and language is not None:
        raise ValueError(
            "transcription_settings.deepgram.detect_language cannot be combined with language"
        )
    redact = fields.string_list("redact")
    for value in redact:
        if value not in DEEPGRAM_REDACT_VALUES:
            raise ValueError(
                f"transcription_settings.deepgram.redact: {value!r} is not one of "
                f"{', '.join(DEEPGRAM_REDACT_VALUES)}"
            )
    replace = fields.string_list("replace")
    for value in replace:
        if ":" not in value:
            raise ValueError(
                "transcription_settings.deepgram.replace items must look like 'find:replacement'"
            )
    return DeepgramSettings(
        model=fields.string("model") or "nova-3",
        language=None if detect_language else (language or "multi"),
        detect_language=detect_language,
        smart_format=fields.boolean("smart_format", default=True),
        keyterms=fields.string_list("keyterms"),
        keywords=fields.string_list("keywords"),
        redact=redact,
        replace=replace,
        use_eu_server=fields.boolean("use_eu_server", default=False),
    )


_PARSERS = {
    "offline": _parse_offline,
    "openai": _parse_openai,
    "deepgram": _parse_deepgram,
    RECORD_ONLY: _parse_record_only,
}


class _Fields:
    """Typed reads from one provider's settings object, with errors that name the key.

    `refused` maps keys that are known but not accepted to the message explaining why.
    """

    def __init__(
        self,
        provider: str,
        raw: Any,
        *,
        allowed: tuple[str, ...],
        refused: Mapping[str, str] | None = None,
    ) -> None:
        self.prefix = f"transcription_settings.{provider}"
        if not isinstance(raw, Mapping):
            raise ValueError(f"{self.prefix} must be an object")
        for key in raw:
            if refused and key in refused:
                raise ValueError(refused[key])
            if key not in allowed:
                hint = "no keys are allowed"
                if allowed:
                    hint = f"allowed keys are {', '.join(allowed)}"
                raise ValueError(f"{self.prefix}.{key}: unknown key; {hint}")
        self.raw = raw

    def string(self, key: str, *, required: bool = False) -> str | None:
        value = self.raw.get(key)
        if value is None:
            if required:
                raise ValueError(f"{self.prefix}.{key} is required")
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{self.prefix}.{key} must be a non-empty string")
        return value

    def boolean(self, key: str, *, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise ValueError(f"{self.prefix}.{key} must be true or false")
        return value

    def string_list(self, key: str) -> tuple[str, ...]:
        value = self.raw.get(key, [])
        if not isinstance(value, list) or not all(
            isinstance(item, str) and item.strip() for item in value
        ):
            raise ValueError(f"{self.prefix}.{key} must be a list of non-empty strings")
        return tuple(value)
