"""Validation of create-bot, patch-bot and chat-message bodies (Attendee's rules and messages).

Pure: takes the decoded JSON and the current time, returns validated values or raises
``FieldErrors`` (400 ``{"field": [...]}``) / ``RuleError`` (400 ``{"error": ...}``).
"""

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sitin.core import realtime_audio, transcription_settings
from sitin.core.errors import FieldErrors, RuleError
from sitin.core.meeting_urls import InvalidMeetingUrl, MeetingUrl, Platform, parse_meeting_url
from sitin.core.timefmt import parse_wire
from sitin.core.triggers import WEBHOOK_TRIGGERS

MAX_METADATA_LENGTH = 1000
MAX_CHAT_MESSAGE_LENGTH = 10000
MAX_JOIN_AT_AHEAD = timedelta(days=3 * 365)
MAX_BOT_WEBHOOKS = 2
MAX_RETENTION_SECONDS = 10 * 365 * 24 * 3600
JOINABLE_PLATFORMS = (Platform.ROOM, Platform.JANUS)


RECORDING_FORMATS = ("mp3", "webm", "mp4", "none")
RECORDING_DEFAULTS: dict[str, Any] = {
    "format": "mp3",
    "view": "speaker_view",
    "resolution": "1080p",
    "record_chat_messages_when_paused": False,
    "record_async_transcription_audio_chunks": False,
    "record_participant_speech_start_stop_events": False,
    "reserve_additional_storage": False,
}
AUTOMATIC_LEAVE_DEFAULTS: dict[str, Any] = {
    "silence_timeout_seconds": 600,
    "silence_activate_after_seconds": 1200,
    "only_participant_in_meeting_timeout_seconds": 60,
    "wait_for_host_to_start_meeting_timeout_seconds": 600,
    "waiting_room_timeout_seconds": 900,
    "max_uptime_seconds": None,
    "enable_closed_captions_timeout_seconds": None,
    "authorized_user_not_in_meeting_timeout_seconds": 600,
    "bot_keywords": None,
}
# Attendee fields this server does not act on yet: refused by name rather than silently ignored.
UNSUPPORTED_FIELDS = (
    "rtmp_settings",
    "zoom_settings",
    "google_meet_settings",
    "teams_settings",
    "debug_settings",
    "callback_settings",
    "external_media_storage_settings",
    "voice_agent_settings",
    "kubernetes_settings",
    "calendar_event_id",
)
CREATE_FIELDS = (
    "meeting_url",
    "bot_name",
    "bot_image",
    "bot_chat_message",
    "metadata",
    "join_at",
    "deduplication_key",
    "transcription_settings",
    "recording_settings",
    "automatic_leave_settings",
    "webhooks",
    "data_retention_seconds",
    "websocket_settings",
)
PATCH_SCHEDULED_ONLY = ("join_at", "meeting_url", "bot_name", "bot_image", "recording_settings")


@dataclass
class BotSpec:
    """A validated create-bot request."""

    meeting: MeetingUrl
    bot_name: str
    metadata: dict[str, str] | None
    join_at: datetime | None
    deduplication_key: str | None
    data_retention_seconds: int | None
    settings: dict[str, Any] = field(default_factory=dict)
    chat_message: dict[str, Any] | None = None
    webhooks: list[dict[str, Any]] = field(default_factory=list)


REQUIRED = "This field is required."
BLANK = "This field may not be blank."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bmp_only(text: str) -> bool:
    return all(ord(ch) <= 0xFFFF for ch in text)


def validate_meeting_url(value: Any) -> MeetingUrl:
    if value is None:
        raise FieldErrors({"meeting_url": [REQUIRED]})
    if not isinstance(value, str):
        raise FieldErrors({"meeting_url": ["Not a valid string."]})
    if not value.strip():
        raise FieldErrors({"meeting_url": [BLANK]})
    try:
        meeting = parse_meeting_url(value)
    except InvalidMeetingUrl as exc:
        raise FieldErrors({"meeting_url": [str(exc)]}) from None
    if meeting.platform not in JOINABLE_PLATFORMS:
        joinable = ", ".join(f"{p.value} ({_PLATFORM_NAMES[p]})" for p in JOINABLE_PLATFORMS)
        raise FieldErrors(
            {
                "meeting_url": [
                    f"This server cannot join {_PLATFORM_NAMES[meeting.platform]} meetings yet. "
                    f"Platforms it can join: {joinable}."
                ]
            }
        )
    return meeting


_PLATFORM_NAMES = {
    Platform.ZOOM: "Zoom",
    Platform.GOOGLE_MEET: "Google Meet",
    Platform.TEAMS: "Microsoft Teams",
    Platform.ROOM: "local rooms: http(s)://<this server>/rooms/<name>",
    Platform.JANUS: "Janus VideoRoom: ws(s)://<janus host>[:port][/path]?room=<id>[&pin=<pin>]",
}


def validate_bot_name(value: Any) -> str:
    if value is None:
        raise FieldErrors({"bot_name": [REQUIRED]})
    if not isinstance(value, str):
        raise FieldErrors({"bot_name": ["Not a valid string."]})
    if not value.strip():
        raise FieldErrors({"bot_name": [BLANK]})
    if len(value) > 255:
        raise FieldErrors({"bot_name": ["Ensure this field has no more than 255 characters."]})
    if not _bmp_only(value):
        raise FieldErrors(
            {"bot_name": ["Bot name cannot contain emojis or rare script characters."]}
        )
    return value


def validate_metadata(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FieldErrors({"metadata": ["Metadata must be an object not an array or other type"]})
    if not value:
        raise FieldErrors({"metadata": ["Metadata must have at least one key"]})
    for key, item in value.items():
        if not isinstance(item, str):
            raise FieldErrors({"metadata": [f"Value for key '{key}' must be a string"]})
    if len(json.dumps(value)) > MAX_METADATA_LENGTH:
        raise FieldErrors(
            {"metadata": [f"Metadata must be less than {MAX_METADATA_LENGTH} characters"]}
        )
    return value


def validate_join_at(value: Any, now: datetime) -> datetime | None:
    if value is None:
        return None
    try:
        join_at = parse_wire(value)
    except (ValueError, TypeError):
        raise FieldErrors(
            {
                "join_at": [
                    "Datetime has wrong format. Use one of these formats instead: "
                    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
                ]
            }
        ) from None
    if join_at < now:
        raise FieldErrors({"join_at": ["join_at cannot be in the past"]})
    if join_at > now + MAX_JOIN_AT_AHEAD:
        raise FieldErrors({"join_at": ["join_at cannot be more than 3 years in the future"]})
    return join_at


def validate_deduplication_key(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FieldErrors({"deduplication_key": ["Not a valid string."]})
    if not value.strip():
        raise FieldErrors({"deduplication_key": [BLANK]})
    if len(value) > 1024:
        raise FieldErrors(
            {"deduplication_key": ["Ensure this field has no more than 1024 characters."]}
        )
    return value


def _object(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldErrors({name: [f"{name} must be an object"]})
    return value


def validate_recording_settings(value: Any) -> dict[str, Any]:
    if value is None:
        return dict(RECORDING_DEFAULTS)
    value = _object("recording_settings", value)
    unknown = sorted(set(value) - set(RECORDING_DEFAULTS))
    if unknown:
        raise FieldErrors(
            {
                "recording_settings": {
                    unknown[0]: f"Unexpected attribute: {unknown[0]}. Allowed: "
                    + ", ".join(RECORDING_DEFAULTS)
                }
            }
        )
    settings = {**RECORDING_DEFAULTS, **value}
    if settings["format"] not in RECORDING_FORMATS:
        raise FieldErrors(
            {"recording_settings": {"format": "Format must be mp3, webm, mp4 or 'none'"}}
        )
    if settings["view"] not in ("speaker_view", "gallery_view", "speaker_view_no_sidebar"):
        raise FieldErrors(
            {
                "recording_settings": {
                    "view": "View must be speaker_view, gallery_view or speaker_view_no_sidebar"
                }
            }
        )
    if settings["resolution"] not in ("1080p", "720p"):
        raise FieldErrors(
            {"recording_settings": {"resolution": "Resolution must be 1080p or 720p"}}
        )
    for key, default in RECORDING_DEFAULTS.items():
        if isinstance(default, bool) and not isinstance(settings[key], bool):
            raise FieldErrors({"recording_settings": {key: f"{key} must be a boolean"}})
    return settings


def validate_automatic_leave_settings(value: Any) -> dict[str, Any]:
    if value is None:
        return dict(AUTOMATIC_LEAVE_DEFAULTS)
    value = _object("automatic_leave_settings", value)
    for key, item in value.items():
        if key not in AUTOMATIC_LEAVE_DEFAULTS:
            raise FieldErrors({"automatic_leave_settings": [f"Unexpected attribute: {key}"]})
        if key == "bot_keywords":
            if item is not None and (
                not isinstance(item, list) or not all(isinstance(w, str) for w in item)
            ):
                raise FieldErrors(
                    {"automatic_leave_settings": ["bot_keywords must be a list of strings"]}
                )
            continue
        nullable = AUTOMATIC_LEAVE_DEFAULTS[key] is None
        if item is None and nullable:
            continue
        if not _is_int(item) or item <= 0:
            raise FieldErrors({"automatic_leave_settings": [f"{key} must be a positive integer"]})
    return {**AUTOMATIC_LEAVE_DEFAULTS, **value}


def validate_transcription_settings(value: Any) -> dict[str, Any]:
    """The normalised ``transcription_settings`` to store (rules in core.transcription_settings)."""
    try:
        return transcription_settings.validate_transcription_settings(value)
    except ValueError as exc:
        raise FieldErrors({"transcription_settings": [str(exc)]}) from None


def validate_websocket_settings(value: Any) -> dict[str, Any] | None:
    """The normalised ``websocket_settings`` to store (rules in core.realtime_audio); which hosts
    and schemes the websocket may use is the outbound guard's call."""
    try:
        return realtime_audio.validate_websocket_settings(value)
    except ValueError as exc:
        raise FieldErrors({"websocket_settings": [str(exc)]}) from None


def validate_webhooks(value: Any) -> list[dict[str, Any]]:
    """The shape only: which hosts and schemes a webhook may use is the outbound guard's call."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise FieldErrors({"webhooks": ["Webhooks must be a list"]})
    if len(value) > MAX_BOT_WEBHOOKS:
        raise FieldErrors(
            {"webhooks": [f"You can have at most {MAX_BOT_WEBHOOKS} webhooks per bot"]}
        )
    seen: set[str] = set()
    result = []
    for item in value:
        if not isinstance(item, dict):
            raise FieldErrors(
                {"webhooks": ["Each webhook must be an object with url and triggers"]}
            )
        unknown = sorted(set(item) - {"url", "triggers"})
        if unknown:
            raise FieldErrors({"webhooks": [f"Unexpected attribute: {unknown[0]}"]})
        url, triggers = item.get("url"), item.get("triggers")
        schemes = ("https://", "http://")
        if not isinstance(url, str) or not url.startswith(schemes):
            raise FieldErrors({"webhooks": [f"webhook URL must start with {' or '.join(schemes)}"]})
        if url in seen:
            raise FieldErrors({"webhooks": [f"URL already subscribed for this bot: {url}"]})
        seen.add(url)
        if not isinstance(triggers, list) or not triggers:
            raise FieldErrors({"webhooks": ["triggers must be a non-empty list"]})
        if len(set(map(str, triggers))) != len(triggers):
            raise FieldErrors({"webhooks": ["triggers must be unique"]})
        for trigger in triggers:
            if trigger not in WEBHOOK_TRIGGERS:
                raise FieldErrors(
                    {
                        "webhooks": [
                            f"Invalid webhook trigger type: {trigger}. "
                            f"Valid triggers: {', '.join(WEBHOOK_TRIGGERS)}"
                        ]
                    }
                )
        result.append({"url": url, "triggers": list(triggers)})
    return result


def validate_bot_image(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    value = _object("bot_image", value)
    kind, data = value.get("type"), value.get("data")
    errors: dict[str, list[str]] = {}
    if kind not in ("image/png", "image/jpeg"):
        errors["type"] = [f'"{kind}" is not a valid choice. Use image/png or image/jpeg.']
    if not isinstance(data, str) or not data:
        errors["data"] = [REQUIRED]
    if errors:
        raise FieldErrors({"bot_image": errors})
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise FieldErrors({"bot_image": {"data": ["Invalid base64 encoded data"]}}) from None
    magic = b"\x89PNG\r\n\x1a\n" if kind == "image/png" else b"\xff\xd8\xff"
    if not raw.startswith(magic):
        raise FieldErrors({"bot_image": {"data": [f"Data is not a valid {kind} image"]}})
    return {"type": kind, "data": data}


def validate_chat_message(value: Any, *, field_name: str | None = None) -> dict[str, Any]:
    """The send_chat_message body (also ``bot_chat_message`` at creation)."""

    def fail(errors: dict[str, list[str]]) -> FieldErrors:
        return FieldErrors({field_name: errors} if field_name else errors)

    if not isinstance(value, dict):
        raise fail({"non_field_errors": ["Invalid data. Expected a dictionary."]})
    unknown = sorted(set(value) - {"to", "to_user_uuid", "message"})
    if unknown:
        raise fail({"non_field_errors": [f"Unexpected field(s): {', '.join(unknown)}"]})
    to = value.get("to", "everyone")
    to_user_uuid = value.get("to_user_uuid")
    message = value.get("message")
    if to not in ("everyone", "specific_user", "everyone_but_host"):
        raise fail({"to": [f'"{to}" is not a valid choice.']})
    if message is None:
        raise fail({"message": [REQUIRED]})
    if not isinstance(message, str):
        raise fail({"message": ["Not a valid string."]})
    if not message.strip():
        raise fail({"message": [BLANK]})
    if len(message) > MAX_CHAT_MESSAGE_LENGTH:
        raise fail(
            {
                "message": [
                    f"Ensure this field has no more than {MAX_CHAT_MESSAGE_LENGTH} characters."
                ]
            }
        )
    if not _bmp_only(message):
        raise fail({"message": ["Message cannot contain emojis or rare script characters."]})
    if to == "specific_user":
        if not isinstance(to_user_uuid, str) or not to_user_uuid:
            raise fail({"to_user_uuid": ["This field is required when 'to' is 'specific_user'."]})
    elif to_user_uuid is not None:
        raise fail(
            {"to_user_uuid": ["This field should only be provided when 'to' is 'specific_user'."]}
        )
    return {"to": to, "to_user_uuid": to_user_uuid, "message": message}


def validate_retention(value: Any) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or not 0 < value <= MAX_RETENTION_SECONDS:
        raise FieldErrors(
            {
                "data_retention_seconds": [
                    f"Must be a positive integer (seconds), at most {MAX_RETENTION_SECONDS} "
                    "(10 years)."
                ]
            }
        )
    return value


def _reject_unknown(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unsupported = [k for k in body if k in UNSUPPORTED_FIELDS]
    if unsupported:
        raise FieldErrors(
            {k: [f"{k} is not supported by this server yet; remove it."] for k in unsupported}
        )
    unknown = [k for k in body if k not in allowed]
    if unknown:
        raise FieldErrors(
            {
                "non_field_errors": [
                    f"Unexpected field(s): {', '.join(unknown)}. "
                    f"Allowed fields are: {', '.join(allowed)}"
                ]
            }
        )


def validate_create_bot(body: Any, *, now: datetime) -> BotSpec:
    if not isinstance(body, dict):
        raise FieldErrors({"non_field_errors": ["Invalid data. Expected a dictionary."]})
    _reject_unknown(body, CREATE_FIELDS)
    errors: dict[str, Any] = {}
    values: dict[str, Any] = {}
    checks = {
        "meeting_url": lambda v: validate_meeting_url(v),
        "bot_name": validate_bot_name,
        "metadata": validate_metadata,
        "join_at": lambda v: validate_join_at(v, now),
        "deduplication_key": validate_deduplication_key,
        "bot_image": validate_bot_image,
        "bot_chat_message": lambda v: (
            None if v is None else validate_chat_message(v, field_name="bot_chat_message")
        ),
        "recording_settings": validate_recording_settings,
        "transcription_settings": validate_transcription_settings,
        "automatic_leave_settings": validate_automatic_leave_settings,
        "webhooks": validate_webhooks,
        "data_retention_seconds": validate_retention,
        "websocket_settings": validate_websocket_settings,
    }
    for name, check in checks.items():
        try:
            values[name] = check(body.get(name))
        except FieldErrors as exc:
            errors.update(exc.errors)
    if errors:
        raise FieldErrors(errors)
    chat = values["bot_chat_message"]
    if chat and chat["to"] == "specific_user":
        raise RuleError(
            f"No participant found with uuid {chat['to_user_uuid']}: the bot has not joined yet, "
            "so bot_chat_message can only be sent to everyone or everyone_but_host."
        )
    settings: dict[str, Any] = {
        "recording_settings": values["recording_settings"],
        "transcription_settings": values["transcription_settings"],
        "automatic_leave_settings": values["automatic_leave_settings"],
    }
    if values["bot_image"]:
        settings["bot_image"] = values["bot_image"]
    if values["websocket_settings"]:
        settings["websocket_settings"] = values["websocket_settings"]
    return BotSpec(
        meeting=values["meeting_url"],
        bot_name=values["bot_name"],
        metadata=values["metadata"],
        join_at=values["join_at"],
        deduplication_key=values["deduplication_key"],
        data_retention_seconds=values["data_retention_seconds"],
        settings=settings,
        chat_message=chat,
        webhooks=values["webhooks"],
    )


@dataclass
class BotPatch:
    """A validated PATCH: only the keys present in the body are set."""

    changes: dict[str, Any]

    @property
    def needs_scheduled_state(self) -> bool:
        return any(k in self.changes for k in PATCH_SCHEDULED_ONLY)


def validate_patch_bot(body: Any, *, now: datetime) -> BotPatch:
    if not isinstance(body, dict):
        raise FieldErrors({"non_field_errors": ["Invalid data. Expected a dictionary."]})
    checks = {
        "join_at": lambda v: validate_join_at(v, now),
        "meeting_url": validate_meeting_url,
        "bot_name": validate_bot_name,
        "bot_image": validate_bot_image,
        "recording_settings": validate_recording_settings,
        "metadata": validate_metadata,
    }
    changes: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for name, check in checks.items():
        if name in body:  # unknown keys are ignored, as Attendee does
            try:
                changes[name] = check(body[name])
            except FieldErrors as exc:
                errors.update(exc.errors)
    if errors:
        raise FieldErrors(errors)
    return BotPatch(changes)
