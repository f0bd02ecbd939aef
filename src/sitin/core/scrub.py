"""What delete_data keeps of a bot, as allow-lists: anything not named here is dropped.

An allow-list fails safe: a key added to event metadata or settings later is scrubbed until it is
judged harmless and listed. Used for the bot's events, its settings and the ``bot.state_change``
deliveries kept after deletion.
"""

from typing import Any

# Event metadata keys that carry no personal data or secrets.
SAFE_EVENT_KEYS = frozenset(
    {
        "source",
        "join_at",
        "bot_duration_seconds",
        "transcription_errors",
        "deleted",
        "blobs",
        "blob_bytes",
    }
)
# Transcription options kept per provider; free text (prompts, keywords) and URLs are dropped.
SAFE_TRANSCRIPTION_KEYS = frozenset(
    {"model", "language", "detect_language", "smart_format", "use_eu_server"}
)


def split_event_metadata(metadata: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(allow-listed keys, everything else) of an event's metadata. The rest may name a
    participant (``remover_name``…): it is stored sealed under the bot's data key."""
    if not isinstance(metadata, dict):
        return {}, {}
    safe, private = {}, {}
    for key, value in metadata.items():
        (safe if key in SAFE_EVENT_KEYS else private)[key] = value
    return safe, private


def safe_event_metadata(metadata: Any) -> dict[str, Any]:
    """Only the allow-listed keys of an event's metadata (anything else, nested or not, goes)."""
    if not isinstance(metadata, dict):
        return {}
    return {k: v for k, v in metadata.items() if k in SAFE_EVENT_KEYS}


def scrub_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Bot settings without free text, credentials or URLs that could carry tokens."""
    kept = {k: v for k, v in settings.items() if k in ("recording_settings",)}
    transcription = settings.get("transcription_settings") or {}
    kept["transcription_settings"] = {
        provider: {k: v for k, v in (options or {}).items() if k in SAFE_TRANSCRIPTION_KEYS}
        for provider, options in transcription.items()
    }
    leave = dict(settings.get("automatic_leave_settings") or {})
    if leave:
        leave["bot_keywords"] = None
        kept["automatic_leave_settings"] = leave
    return kept
