"""Create-bot, patch-bot and chat-message validation: every rule and its exact message (§7).

Each table row is one body (merged over a valid base) and the exact 400 body it must produce.
"""

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from sitin.core import meeting_urls
from sitin.core.errors import FieldErrors, RuleError
from sitin.core.validation import (
    AUTOMATIC_LEAVE_DEFAULTS,
    CREATE_FIELDS,
    RECORDING_DEFAULTS,
    validate_chat_message,
    validate_create_bot,
    validate_patch_bot,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ROOM = "http://127.0.0.1:8000/rooms/standup"
BASE = {"meeting_url": ROOM, "bot_name": "Notetaker"}
REQUIRED = "This field is required."
BLANK = "This field may not be blank."
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
JPEG = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 16).decode()
JOINABLE = (
    "Platforms it can join: room (local rooms: http(s)://<this server>/rooms/<name>), "
    "janus (Janus VideoRoom: ws(s)://<janus host>[:port][/path]?room=<id>[&pin=<pin>])."
)
WEBHOOK = "https://hooks.example.com/sitin"

RETENTION_MESSAGE = "Must be a positive integer (seconds), at most 315360000 (10 years)."


def _metadata_of_json_length(length: int) -> dict[str, str]:
    skeleton = len(json.dumps({"k": ""}))
    return {"k": "x" * (length - skeleton)}


# (id, fields merged over BASE (None value = remove the key), expected 400 body)
CREATE_ERRORS = [
    # meeting_url
    ("meeting_url-missing", {"meeting_url": None}, {"meeting_url": [REQUIRED]}),
    ("meeting_url-blank", {"meeting_url": "   "}, {"meeting_url": [BLANK]}),
    ("meeting_url-not-string", {"meeting_url": 42}, {"meeting_url": ["Not a valid string."]}),
    (
        "meeting_url-unknown-site",
        {"meeting_url": "https://example.com/call/1"},
        {"meeting_url": [meeting_urls.UNKNOWN_SITE]},
    ),
    (
        "meeting_url-two-urls",
        {"meeting_url": "https://zoom.us/j/123?tk=https://evil.example.com/x"},
        {"meeting_url": [meeting_urls.SEVERAL_URLS]},
    ),
    (
        "meeting_url-room-bad-name",
        {"meeting_url": "http://127.0.0.1:8000/rooms/a b"},
        {"meeting_url": [meeting_urls.ROOM_BAD_FORM]},
    ),
    (
        "meeting_url-janus-no-room",
        {"meeting_url": "wss://janus.example.com/janus"},
        {"meeting_url": [meeting_urls.JANUS_BAD_ROOM]},
    ),
    (
        "meeting_url-zoom-not-joinable",
        {"meeting_url": "https://us02web.zoom.us/j/84315220467?pwd=abc"},
        {"meeting_url": [f"This server cannot join Zoom meetings yet. {JOINABLE}"]},
    ),
    (
        "meeting_url-meet-not-joinable",
        {"meeting_url": "https://meet.google.com/abc-defg-hij"},
        {"meeting_url": [f"This server cannot join Google Meet meetings yet. {JOINABLE}"]},
    ),
    (
        "meeting_url-teams-not-joinable",
        {"meeting_url": "https://teams.live.com/meet/9312345?p=abcDEF"},
        {"meeting_url": [f"This server cannot join Microsoft Teams meetings yet. {JOINABLE}"]},
    ),
    # bot_name
    ("bot_name-missing", {"bot_name": None}, {"bot_name": [REQUIRED]}),
    ("bot_name-blank", {"bot_name": " "}, {"bot_name": [BLANK]}),
    ("bot_name-not-string", {"bot_name": ["a"]}, {"bot_name": ["Not a valid string."]}),
    (
        "bot_name-too-long",
        {"bot_name": "n" * 256},
        {"bot_name": ["Ensure this field has no more than 255 characters."]},
    ),
    (
        "bot_name-emoji",
        {"bot_name": "Notes \U0001f600"},
        {"bot_name": ["Bot name cannot contain emojis or rare script characters."]},
    ),
    # metadata
    (
        "metadata-array",
        {"metadata": ["a"]},
        {"metadata": ["Metadata must be an object not an array or other type"]},
    ),
    (
        "metadata-string",
        {"metadata": "a"},
        {"metadata": ["Metadata must be an object not an array or other type"]},
    ),
    ("metadata-empty", {"metadata": {}}, {"metadata": ["Metadata must have at least one key"]}),
    (
        "metadata-int-value",
        {"metadata": {"ok": "1", "n": 1}},
        {"metadata": ["Value for key 'n' must be a string"]},
    ),
    (
        "metadata-nested-value",
        {"metadata": {"deep": {"a": "b"}}},
        {"metadata": ["Value for key 'deep' must be a string"]},
    ),
    (
        "metadata-too-long",
        {"metadata": _metadata_of_json_length(1001)},
        {"metadata": ["Metadata must be less than 1000 characters"]},
    ),
    # join_at
    (
        "join_at-past",
        {"join_at": "2025-03-01T11:59:00Z"},
        {"join_at": ["join_at cannot be in the past"]},
    ),
    (
        "join_at-over-3-years",
        {"join_at": (NOW + timedelta(days=3 * 365, seconds=1)).isoformat()},
        {"join_at": ["join_at cannot be more than 3 years in the future"]},
    ),
    (
        "join_at-bad-format",
        {"join_at": "tomorrow"},
        {
            "join_at": [
                "Datetime has wrong format. Use one of these formats instead: "
                "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
            ]
        },
    ),
    (
        "join_at-number",
        {"join_at": 1740830400},
        {
            "join_at": [
                "Datetime has wrong format. Use one of these formats instead: "
                "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
            ]
        },
    ),
    # deduplication_key
    ("dedup-blank", {"deduplication_key": ""}, {"deduplication_key": [BLANK]}),
    ("dedup-not-string", {"deduplication_key": 7}, {"deduplication_key": ["Not a valid string."]}),
    (
        "dedup-too-long",
        {"deduplication_key": "k" * 1025},
        {"deduplication_key": ["Ensure this field has no more than 1024 characters."]},
    ),
    # bot_image
    (
        "bot_image-bad-type",
        {"bot_image": {"type": "image/gif", "data": PNG}},
        {
            "bot_image": {
                "type": ['"image/gif" is not a valid choice. Use image/png or image/jpeg.']
            }
        },
    ),
    (
        "bot_image-no-data",
        {"bot_image": {"type": "image/png"}},
        {"bot_image": {"data": [REQUIRED]}},
    ),
    (
        "bot_image-bad-base64",
        {"bot_image": {"type": "image/png", "data": "@@not base64@@"}},
        {"bot_image": {"data": ["Invalid base64 encoded data"]}},
    ),
    (
        "bot_image-not-a-png",
        {"bot_image": {"type": "image/png", "data": JPEG}},
        {"bot_image": {"data": ["Data is not a valid image/png image"]}},
    ),
    ("bot_image-not-object", {"bot_image": "x"}, {"bot_image": ["bot_image must be an object"]}),
    # bot_chat_message
    (
        "bot_chat_message-no-message",
        {"bot_chat_message": {"to": "everyone"}},
        {"bot_chat_message": {"message": [REQUIRED]}},
    ),
    (
        "bot_chat_message-bad-to",
        {"bot_chat_message": {"to": "nobody", "message": "hi"}},
        {"bot_chat_message": {"to": ['"nobody" is not a valid choice.']}},
    ),
    (
        "bot_chat_message-uuid-without-specific-user",
        {"bot_chat_message": {"message": "hi", "to_user_uuid": "u1"}},
        {
            "bot_chat_message": {
                "to_user_uuid": ["This field should only be provided when 'to' is 'specific_user'."]
            }
        },
    ),
    # recording_settings
    (
        "recording-unknown-key",
        {"recording_settings": {"format": "mp3", "quality": "high"}},
        {
            "recording_settings": {
                "quality": "Unexpected attribute: quality. Allowed: "
                + ", ".join(RECORDING_DEFAULTS)
            }
        },
    ),
    (
        "recording-bad-format",
        {"recording_settings": {"format": "flac"}},
        {"recording_settings": {"format": "Format must be mp3, webm, mp4 or 'none'"}},
    ),
    (
        "recording-bad-view",
        {"recording_settings": {"view": "grid"}},
        {
            "recording_settings": {
                "view": "View must be speaker_view, gallery_view or speaker_view_no_sidebar"
            }
        },
    ),
    (
        "recording-bad-resolution",
        {"recording_settings": {"resolution": "4k"}},
        {"recording_settings": {"resolution": "Resolution must be 1080p or 720p"}},
    ),
    (
        "recording-non-bool",
        {"recording_settings": {"record_chat_messages_when_paused": "yes"}},
        {
            "recording_settings": {
                "record_chat_messages_when_paused": (
                    "record_chat_messages_when_paused must be a boolean"
                )
            }
        },
    ),
    (
        "recording-not-object",
        {"recording_settings": ["mp3"]},
        {"recording_settings": ["recording_settings must be an object"]},
    ),
    # automatic_leave_settings
    (
        "auto-leave-unknown-key",
        {"automatic_leave_settings": {"silence_timeout": 5}},
        {"automatic_leave_settings": ["Unexpected attribute: silence_timeout"]},
    ),
    (
        "auto-leave-zero",
        {"automatic_leave_settings": {"silence_timeout_seconds": 0}},
        {"automatic_leave_settings": ["silence_timeout_seconds must be a positive integer"]},
    ),
    (
        "auto-leave-bool",
        {"automatic_leave_settings": {"waiting_room_timeout_seconds": True}},
        {"automatic_leave_settings": ["waiting_room_timeout_seconds must be a positive integer"]},
    ),
    (
        "auto-leave-null-not-nullable",
        {"automatic_leave_settings": {"silence_timeout_seconds": None}},
        {"automatic_leave_settings": ["silence_timeout_seconds must be a positive integer"]},
    ),
    (
        "auto-leave-float",
        {"automatic_leave_settings": {"max_uptime_seconds": 1.5}},
        {"automatic_leave_settings": ["max_uptime_seconds must be a positive integer"]},
    ),
    (
        "auto-leave-keywords-not-list",
        {"automatic_leave_settings": {"bot_keywords": "bye"}},
        {"automatic_leave_settings": ["bot_keywords must be a list of strings"]},
    ),
    (
        "auto-leave-keywords-not-strings",
        {"automatic_leave_settings": {"bot_keywords": ["bye", 2]}},
        {"automatic_leave_settings": ["bot_keywords must be a list of strings"]},
    ),
    # transcription_settings (rules and messages: core.transcription_settings)
    (
        "transcription-unknown-provider",
        {"transcription_settings": {"gladia": {}}},
        {
            "transcription_settings": [
                "transcription_settings.gladia: unsupported transcription provider; "
                "use one of deepgram, openai, offline, none"
            ]
        },
    ),
    (
        "transcription-unknown-option",
        {"transcription_settings": {"offline": {"beam": 5}}},
        {
            "transcription_settings": [
                "transcription_settings.offline.beam: unknown key; "
                "allowed keys are language, prompt, accuracy_pass"
            ]
        },
    ),
    (
        "transcription-openai-needs-model",
        {"transcription_settings": {"openai": {"language": "en"}}},
        {"transcription_settings": ["transcription_settings.openai.model is required"]},
    ),
    (
        "transcription-wrong-type",
        {"transcription_settings": {"deepgram": {"detect_language": "yes"}}},
        {
            "transcription_settings": [
                "transcription_settings.deepgram.detect_language must be true or false"
            ]
        },
    ),
    (
        "transcription-blank-string",
        {"transcription_settings": {"openai": {"model": " "}}},
        {
            "transcription_settings": [
                "transcription_settings.openai.model must be a non-empty string"
            ]
        },
    ),
    (
        "transcription-options-not-object",
        {"transcription_settings": {"openai": "whisper-1"}},
        {"transcription_settings": ["transcription_settings.openai must be an object"]},
    ),
    (
        "transcription-endpoint-is-not-a-bot-setting",
        {"transcription_settings": {"openai": {"model": "m", "base_url": "https://evil"}}},
        {
            "transcription_settings": [
                "transcription_settings.openai.base_url is not accepted: the openai endpoint is "
                "part of the project's credentials, set by the server operator with "
                "`sitin credentials set --project <project> openai --base-url URL`"
            ]
        },
    ),
    (
        "transcription-record-only-combined",
        {"transcription_settings": {"none": {}, "offline": {}}},
        {
            "transcription_settings": [
                "transcription_settings.none (record only) cannot be combined with offline: "
                "give one or the other"
            ]
        },
    ),
    # webhooks
    (
        "webhooks-not-list",
        {"webhooks": {"url": WEBHOOK}},
        {"webhooks": ["Webhooks must be a list"]},
    ),
    (
        "webhooks-too-many",
        {
            "webhooks": [
                {"url": f"{WEBHOOK}/{i}", "triggers": ["bot.state_change"]} for i in range(3)
            ]
        },
        {"webhooks": ["You can have at most 2 webhooks per bot"]},
    ),
    (
        "webhooks-ftp",
        {"webhooks": [{"url": "ftp://hooks.example.com", "triggers": ["bot.state_change"]}]},
        {"webhooks": ["webhook URL must start with https:// or http://"]},
    ),
    (
        "webhooks-repeated-url",
        {"webhooks": [{"url": WEBHOOK, "triggers": ["bot.state_change"]}] * 2},
        {"webhooks": [f"URL already subscribed for this bot: {WEBHOOK}"]},
    ),
    (
        "webhooks-no-triggers",
        {"webhooks": [{"url": WEBHOOK, "triggers": []}]},
        {"webhooks": ["triggers must be a non-empty list"]},
    ),
    (
        "webhooks-repeated-trigger",
        {"webhooks": [{"url": WEBHOOK, "triggers": ["bot.state_change", "bot.state_change"]}]},
        {"webhooks": ["triggers must be unique"]},
    ),
    (
        "webhooks-unknown-trigger",
        {"webhooks": [{"url": WEBHOOK, "triggers": ["bot.exploded"]}]},
        {
            "webhooks": [
                "Invalid webhook trigger type: bot.exploded. Valid triggers: bot.state_change, "
                "transcript.update, chat_messages.update, participant_events.join_leave, "
                "participant_events.speech_start_stop, bot_logs.update"
            ]
        },
    ),
    (
        "webhooks-unknown-attribute",
        {"webhooks": [{"url": WEBHOOK, "triggers": ["bot.state_change"], "secret": "s"}]},
        {"webhooks": ["Unexpected attribute: secret"]},
    ),
    (
        "webhooks-item-not-object",
        {"webhooks": [WEBHOOK]},
        {"webhooks": ["Each webhook must be an object with url and triggers"]},
    ),
    # data_retention_seconds
    (
        "retention-zero",
        {"data_retention_seconds": 0},
        {"data_retention_seconds": [RETENTION_MESSAGE]},
    ),
    (
        "retention-bool",
        {"data_retention_seconds": True},
        {"data_retention_seconds": [RETENTION_MESSAGE]},
    ),
    (
        "retention-beyond-int64",
        {"data_retention_seconds": 9223372036854775808},
        {"data_retention_seconds": [RETENTION_MESSAGE]},
    ),
    (
        "retention-over-ten-years",
        {"data_retention_seconds": 10 * 365 * 24 * 3600 + 1},
        {"data_retention_seconds": [RETENTION_MESSAGE]},
    ),
    # top level
    (
        "unknown-field",
        {"bot_nickname": "x"},
        {
            "non_field_errors": [
                "Unexpected field(s): bot_nickname. Allowed fields are: " + ", ".join(CREATE_FIELDS)
            ]
        },
    ),
    (
        "unsupported-attendee-fields",
        {"zoom_settings": {}, "rtmp_settings": {}},
        {
            "zoom_settings": ["zoom_settings is not supported by this server yet; remove it."],
            "rtmp_settings": ["rtmp_settings is not supported by this server yet; remove it."],
        },
    ),
    (
        "several-fields-at-once",
        {"bot_name": None, "metadata": {}, "deduplication_key": ""},
        {
            "bot_name": [REQUIRED],
            "metadata": ["Metadata must have at least one key"],
            "deduplication_key": [BLANK],
        },
    ),
]


def _body(fields: dict) -> dict:
    body = {**BASE, **fields}
    return {k: v for k, v in body.items() if not (k in BASE and v is None)}


@pytest.mark.parametrize(
    ("fields", "expected"), [c[1:] for c in CREATE_ERRORS], ids=[c[0] for c in CREATE_ERRORS]
)
def test_create_rejects_with_the_exact_message(fields, expected):
    with pytest.raises(FieldErrors) as raised:
        validate_create_bot(_body(fields), now=NOW)
    assert raised.value.errors == expected


@pytest.mark.parametrize("body", [[BASE], "x", 3, None], ids=["list", "string", "int", "null"])
def test_create_body_must_be_an_object(body):
    with pytest.raises(FieldErrors) as raised:
        validate_create_bot(body, now=NOW)
    assert raised.value.errors == {"non_field_errors": ["Invalid data. Expected a dictionary."]}


def test_chat_message_to_a_specific_user_at_creation_is_a_rule_error():
    body = _body(
        {"bot_chat_message": {"to": "specific_user", "to_user_uuid": "u1", "message": "hi"}}
    )
    with pytest.raises(RuleError, match="No participant found with uuid u1"):
        validate_create_bot(body, now=NOW)


def test_minimal_body_gets_all_defaults():
    spec = validate_create_bot(dict(BASE), now=NOW)
    assert spec.meeting.url == ROOM
    assert spec.bot_name == "Notetaker"
    assert spec.metadata is None and spec.join_at is None and spec.deduplication_key is None
    assert spec.settings == {
        "recording_settings": RECORDING_DEFAULTS,
        "transcription_settings": {"offline": {}},
        "automatic_leave_settings": AUTOMATIC_LEAVE_DEFAULTS,
    }
    assert spec.webhooks == [] and spec.chat_message is None


def test_a_janus_meeting_is_joinable():
    spec = validate_create_bot(
        {"meeting_url": "WSS://Janus.Example.com/janus?room=0042&pin=s3cret", "bot_name": "N"},
        now=NOW,
    )
    assert spec.meeting.platform == "janus"
    assert spec.meeting.url == "wss://janus.example.com/janus?room=42&pin=s3cret"


def test_full_valid_body_is_accepted_and_normalised():
    body = {
        "meeting_url": " <https://127.0.0.1:8000/rooms/standup/> ",
        "bot_name": "n" * 255,
        "bot_image": {"type": "image/png", "data": PNG},
        "bot_chat_message": {"message": "Hello, I take notes"},
        "metadata": _metadata_of_json_length(1000),
        "join_at": "2025-03-01T13:00:00",  # naive means UTC
        "deduplication_key": "k" * 1024,
        "transcription_settings": {"deepgram": {"model": "nova-3"}},
        "recording_settings": {"format": "none", "resolution": "720p"},
        "automatic_leave_settings": {"max_uptime_seconds": 3600, "bot_keywords": ["bye"]},
        "webhooks": [
            {"url": WEBHOOK, "triggers": ["bot.state_change", "transcript.update"]},
            {"url": f"{WEBHOOK}/2", "triggers": ["chat_messages.update"]},
        ],
        "data_retention_seconds": 86400,
    }
    spec = validate_create_bot(body, now=NOW)
    assert spec.meeting.url == "https://127.0.0.1:8000/rooms/standup"
    assert spec.join_at == datetime(2025, 3, 1, 13, 0, tzinfo=UTC)
    assert spec.chat_message == {
        "to": "everyone",
        "to_user_uuid": None,
        "message": body["bot_chat_message"]["message"],
    }
    assert spec.settings["transcription_settings"] == {
        "deepgram": {"model": "nova-3", "language": "multi"}
    }
    assert spec.settings["recording_settings"] == {
        **RECORDING_DEFAULTS,
        "format": "none",
        "resolution": "720p",
    }
    assert spec.settings["automatic_leave_settings"]["max_uptime_seconds"] == 3600
    assert spec.settings["automatic_leave_settings"]["silence_timeout_seconds"] == 600
    assert spec.settings["bot_image"] == {"type": "image/png", "data": PNG}
    assert len(spec.webhooks) == 2 and spec.data_retention_seconds == 86400


def test_join_at_exactly_three_years_ahead_is_accepted():
    join_at = (NOW + timedelta(days=3 * 365)).isoformat()
    assert validate_create_bot(_body({"join_at": join_at}), now=NOW).join_at is not None


def test_deepgram_with_detect_language_gets_no_default_language():
    body = _body({"transcription_settings": {"deepgram": {"detect_language": True}}})
    settings = validate_create_bot(body, now=NOW).settings["transcription_settings"]
    assert settings == {"deepgram": {"detect_language": True}}


def test_record_only_and_several_providers_are_stored_as_given():
    record_only = _body({"transcription_settings": {"none": {}}})
    assert validate_create_bot(record_only, now=NOW).settings["transcription_settings"] == {
        "none": {}
    }
    several = {"offline": {"language": "en"}, "openai": {"model": "whisper-1"}}
    body = _body({"transcription_settings": several})
    assert validate_create_bot(body, now=NOW).settings["transcription_settings"] == several


def test_http_webhooks_are_well_formed_the_outbound_guard_decides_on_hosts():
    body = _body(
        {"webhooks": [{"url": "http://127.0.0.1:9/hook", "triggers": ["bot.state_change"]}]}
    )
    spec = validate_create_bot(body, now=NOW)
    assert spec.webhooks == [{"url": "http://127.0.0.1:9/hook", "triggers": ["bot.state_change"]}]


# --- send_chat_message -------------------------------------------------------------------------

CHAT_ERRORS = [
    ("message-missing", {}, {"message": [REQUIRED]}),
    ("message-blank", {"message": "  "}, {"message": [BLANK]}),
    ("message-not-string", {"message": 5}, {"message": ["Not a valid string."]}),
    (
        "message-too-long",
        {"message": "m" * 10001},
        {"message": ["Ensure this field has no more than 10000 characters."]},
    ),
    (
        "message-emoji",
        {"message": "hi \U0001f44b"},
        {"message": ["Message cannot contain emojis or rare script characters."]},
    ),
    ("to-invalid", {"to": "host", "message": "hi"}, {"to": ['"host" is not a valid choice.']}),
    (
        "specific-user-without-uuid",
        {"to": "specific_user", "message": "hi"},
        {"to_user_uuid": ["This field is required when 'to' is 'specific_user'."]},
    ),
    (
        "uuid-without-specific-user",
        {"to": "everyone_but_host", "to_user_uuid": "u1", "message": "hi"},
        {"to_user_uuid": ["This field should only be provided when 'to' is 'specific_user'."]},
    ),
    (
        "unknown-field",
        {"message": "hi", "priority": "high"},
        {"non_field_errors": ["Unexpected field(s): priority"]},
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in CHAT_ERRORS], ids=[c[0] for c in CHAT_ERRORS]
)
def test_chat_message_rejects_with_the_exact_message(body, expected):
    with pytest.raises(FieldErrors) as raised:
        validate_chat_message(body)
    assert raised.value.errors == expected


def test_chat_message_defaults_to_everyone_and_allows_10000_chars():
    assert validate_chat_message({"message": "m" * 10000}) == {
        "to": "everyone",
        "to_user_uuid": None,
        "message": "m" * 10000,
    }
    assert (
        validate_chat_message({"to": "specific_user", "to_user_uuid": "u1", "message": "é"})[
            "to_user_uuid"
        ]
        == "u1"
    )


# --- PATCH -------------------------------------------------------------------------------------


def test_patch_keeps_only_the_fields_given_and_ignores_unknown_keys():
    patch = validate_patch_bot({"metadata": {"a": "b"}, "colour": "red"}, now=NOW)
    assert patch.changes == {"metadata": {"a": "b"}}
    assert not patch.needs_scheduled_state


@pytest.mark.parametrize(
    "field", ["join_at", "meeting_url", "bot_name", "bot_image", "recording_settings"]
)
def test_patch_fields_other_than_metadata_need_the_scheduled_state(field):
    values = {
        "join_at": "2025-03-02T00:00:00Z",
        "meeting_url": ROOM,
        "bot_name": "Other",
        "bot_image": {"type": "image/jpeg", "data": JPEG},
        "recording_settings": {"format": "mp4"},
    }
    assert validate_patch_bot({field: values[field]}, now=NOW).needs_scheduled_state


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"join_at": "2020-01-01T00:00:00Z"}, {"join_at": ["join_at cannot be in the past"]}),
        ({"bot_name": ""}, {"bot_name": [BLANK]}),
        ({"meeting_url": "ftp://x/rooms/a"}, {"meeting_url": [meeting_urls.WRONG_SCHEME]}),
        ({"metadata": []}, {"metadata": ["Metadata must be an object not an array or other type"]}),
        (
            {"recording_settings": {"format": "wav"}},
            {"recording_settings": {"format": "Format must be mp3, webm, mp4 or 'none'"}},
        ),
        ([], {"non_field_errors": ["Invalid data. Expected a dictionary."]}),
    ],
    ids=[
        "join_at-past",
        "bot_name-blank",
        "meeting_url-scheme",
        "metadata-array",
        "format",
        "list",
    ],
)
def test_patch_validates_like_create(body, expected):
    with pytest.raises(FieldErrors) as raised:
        validate_patch_bot(body, now=NOW)
    assert raised.value.errors == expected
