"""Validation of a bot's `transcription_settings` (Attendee's shape, sitin's providers).

Shape: `{"<provider>": {...}}`. When several providers are given, the first one in
`PROVIDER_PRECEDENCE` wins (as in Attendee, where deepgram comes before openai); nothing given
means the offline engine. Every error is a ValueError whose message names the offending key.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

PROVIDER_PRECEDENCE = ("deepgram", "openai", "offline")
DEFAULT_PROVIDER = "offline"
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEEPGRAM_DEFAULT_BASE_URL = "https://api.deepgram.com"
DEEPGRAM_EU_BASE_URL = "https://api.eu.deepgram.com"
DEEPGRAM_REDACT_VALUES = ("pci", "pii", "numbers")


@dataclass(frozen=True)
class OfflineSettings:
    language: str = "en"
    prompt: str | None = None


@dataclass(frozen=True)
class OpenAISettings:
    model: str
    base_url: str = OPENAI_DEFAULT_BASE_URL
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
    base_url: str = DEEPGRAM_DEFAULT_BASE_URL


ProviderSettings = OfflineSettings | OpenAISettings | DeepgramSettings


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


def chosen_provider(settings: Mapping[str, Any] | None) -> str:
    """Name of the provider these settings select ("deepgram", "openai" or "offline")."""
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
    parsed = {name: _PARSERS[name](settings[name]) for name in settings}
    for name in PROVIDER_PRECEDENCE:
        if name in parsed:
            return name, parsed[name]
    return DEFAULT_PROVIDER, OfflineSettings()


def _parse_offline(raw: Any) -> OfflineSettings:
    fields = _Fields("offline", raw, allowed=("language", "prompt"))
    return OfflineSettings(
        language=fields.string("language") or "en",
        prompt=fields.string("prompt"),
    )


def _parse_openai(raw: Any) -> OpenAISettings:
    fields = _Fields(
        "openai", raw, allowed=("model", "base_url", "language", "prompt", "response_format")
    )
    model = fields.string("model", required=True)
    response_format = fields.string("response_format")
    if response_format not in (None, "json", "verbose_json"):
        raise ValueError(
            "transcription_settings.openai.response_format must be 'json' or 'verbose_json'"
        )
    return OpenAISettings(
        model=model,
        base_url=fields.url("base_url") or OPENAI_DEFAULT_BASE_URL,
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
            "callback",
            "keyterms",
            "keywords",
            "model",
            "redact",
            "replace",
            "use_eu_server",
            "smart_format",
            "base_url",
        ),
    )
    if "callback" in fields.raw:
        raise ValueError(
            "transcription_settings.deepgram.callback is not supported: "
            "sitin needs the transcripts back to store them"
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
    eu_default = DEEPGRAM_EU_BASE_URL if fields.boolean("use_eu_server", default=False) else None
    return DeepgramSettings(
        model=fields.string("model") or "nova-3",
        language=None if detect_language else (language or "multi"),
        detect_language=detect_language,
        smart_format=fields.boolean("smart_format", default=True),
        keyterms=fields.string_list("keyterms"),
        keywords=fields.string_list("keywords"),
        redact=redact,
        replace=replace,
        base_url=fields.url("base_url") or eu_default or DEEPGRAM_DEFAULT_BASE_URL,
    )


_PARSERS = {"offline": _parse_offline, "openai": _parse_openai, "deepgram": _parse_deepgram}


class _Fields:
    """Typed reads from one provider's settings object, with errors that name the key."""

    def __init__(self, provider: str, raw: Any, *, allowed: tuple[str, ...]) -> None:
        self.prefix = f"transcription_settings.{provider}"
        if not isinstance(raw, Mapping):
            raise ValueError(f"{self.prefix} must be an object")
        for key in raw:
            if key not in allowed:
                raise ValueError(
                    f"{self.prefix}.{key}: unknown key; allowed keys are {', '.join(allowed)}"
                )
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

    def url(self, key: str) -> str | None:
        value = self.string(key)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{self.prefix}.{key} must be an http(s) URL")
        return value.rstrip("/")
