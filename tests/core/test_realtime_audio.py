"""Attendee's realtime-audio protocol: create-bot `websocket_settings` (every rule and the message
naming the field and what is allowed), the messages the bot sends, and parsing what the user's
server sends back (anything hostile is a ProtocolError saying what was wrong)."""

import base64
import json
from datetime import UTC, datetime

import numpy as np
import pytest

from sitin.core import realtime_audio
from sitin.core.errors import FieldErrors
from sitin.core.realtime_audio import (
    MAX_CHUNK_BYTES,
    BotOutput,
    ClearBotOutput,
    ProtocolError,
    StreamSettings,
    mixed_message,
    parse_incoming,
    per_participant_message,
    streams,
)
from sitin.core.validation import validate_create_bot

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
BASE = {"meeting_url": "http://127.0.0.1:8000/rooms/standup", "bot_name": "Notetaker"}
AGENT = "wss://agent.example.com/audio"


def create(websocket_settings):
    return validate_create_bot({**BASE, "websocket_settings": websocket_settings}, now=NOW)


# (id, websocket_settings, what is stored)
ACCEPTED = [
    ("absent", None, None),
    (
        "mixed-default-rate",
        {"audio": {"url": AGENT}},
        {"audio": {"url": AGENT, "sample_rate": 16000}},
    ),
    (
        "mixed-24k",
        {"audio": {"url": AGENT, "sample_rate": 24000}},
        {"audio": {"url": AGENT, "sample_rate": 24000}},
    ),
    (
        "per-participant-8k",
        {"per_participant_audio": {"url": AGENT, "sample_rate": 8000}},
        {"per_participant_audio": {"url": AGENT, "sample_rate": 8000}},
    ),
    (
        "both",
        {"audio": {"url": AGENT, "sample_rate": 8000}, "per_participant_audio": {"url": AGENT}},
        {
            "audio": {"url": AGENT, "sample_rate": 8000},
            "per_participant_audio": {"url": AGENT, "sample_rate": 16000},
        },
    ),
    ("ws-scheme-is-the-guards-decision", {"audio": {"url": "ws://127.0.0.1:9/a"}}, ...),
    ("null-streams-are-absent", {"audio": None, "per_participant_audio": None}, None),
]


@pytest.mark.parametrize(
    ("settings", "stored"), [r[1:] for r in ACCEPTED], ids=[r[0] for r in ACCEPTED]
)
def test_accepted_settings_are_stored_normalised(settings, stored):
    spec = create(settings)
    if stored is ...:
        stored = {"audio": {**settings["audio"], "sample_rate": 16000}}
    assert spec.settings.get("websocket_settings") == stored


# (id, websocket_settings, the message under "websocket_settings")
REJECTED = [
    ("not-an-object", ["wss://x"], "websocket_settings must be an object"),
    (
        "video-has-no-rooms",
        {"per_participant_video": {"url": AGENT}},
        "per_participant_video is not available: sitin's rooms carry no video; "
        "use audio or per_participant_audio",
    ),
    (
        "unknown-stream",
        {"transcripts": {"url": AGENT}},
        "Unexpected attribute: transcripts. Allowed: audio, per_participant_audio",
    ),
    ("stream-not-object", {"audio": AGENT}, "audio must be an object with url and sample_rate"),
    (
        "stream-unknown-key",
        {"audio": {"url": AGENT, "codec": "opus"}},
        "audio: Unexpected attribute: codec. Allowed: url, sample_rate",
    ),
    ("url-missing", {"audio": {"sample_rate": 16000}}, "audio.url is required"),
    (
        "url-https",
        {"audio": {"url": "https://agent.example.com"}},
        "audio.url must be a wss:// URL (ws:// only to hosts the operator allows)",
    ),
    (
        "url-not-string",
        {"per_participant_audio": {"url": 5}},
        "per_participant_audio.url must be a wss:// URL (ws:// only to hosts the operator allows)",
    ),
    (
        "url-too-long",
        {"audio": {"url": AGENT + "x" * 2048}},
        "audio.url must be at most 2048 characters",
    ),
    ("url-no-host", {"audio": {"url": "wss:///path"}}, "audio.url has no host"),
    (
        "mixed-rate-not-allowed",
        {"audio": {"url": AGENT, "sample_rate": 44100}},
        "audio.sample_rate must be one of 8000, 16000, 24000 (default 16000)",
    ),
    (
        "per-participant-24k-not-allowed",
        {"per_participant_audio": {"url": AGENT, "sample_rate": 24000}},
        "per_participant_audio.sample_rate must be one of 8000, 16000 (default 16000)",
    ),
    (
        "rate-as-string",
        {"audio": {"url": AGENT, "sample_rate": "16000"}},
        "audio.sample_rate must be one of 8000, 16000, 24000 (default 16000)",
    ),
    (
        "rate-as-float",
        {"audio": {"url": AGENT, "sample_rate": 16000.0}},
        "audio.sample_rate must be one of 8000, 16000, 24000 (default 16000)",
    ),
    (
        "rate-as-bool",
        {"audio": {"url": AGENT, "sample_rate": True}},
        "audio.sample_rate must be one of 8000, 16000, 24000 (default 16000)",
    ),
]


@pytest.mark.parametrize(
    ("settings", "message"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED]
)
def test_rejected_settings_name_the_field_and_what_is_allowed(settings, message):
    with pytest.raises(FieldErrors) as caught:
        create(settings)
    assert caught.value.errors == {"websocket_settings": [message]}


def test_streams_lists_mixed_first():
    stored = create(
        {"per_participant_audio": {"url": AGENT + "/p"}, "audio": {"url": AGENT + "/m"}}
    ).settings["websocket_settings"]
    assert streams(stored) == [
        StreamSettings("audio", AGENT + "/m", 16000),
        StreamSettings("per_participant_audio", AGENT + "/p", 16000),
    ]
    assert streams(None) == []


def test_outgoing_messages_have_attendees_shape_and_decode_to_the_samples():
    pcm = np.array([0, 1, -1, 32767, -32768], dtype="<i2").tobytes()
    mixed = json.loads(mixed_message("bot_1", pcm, sample_rate=16000, timestamp_ms=5, sequence=3))
    assert mixed == {
        "bot_id": "bot_1",
        "trigger": "realtime_audio.mixed",
        "data": {
            "chunk": base64.b64encode(pcm).decode(),
            "sample_rate": 16000,
            "timestamp_ms": 5,
            "sequence": 3,
        },
    }
    one = json.loads(
        per_participant_message(
            "bot_1",
            pcm,
            sample_rate=8000,
            timestamp_ms=7,
            sequence=0,
            participant_uuid="u-1",
            participant_name="Alice",
        )
    )
    assert one["trigger"] == "realtime_audio.per_participant"
    assert one["data"]["participant_uuid"] == "u-1"
    assert one["data"]["participant_name"] == "Alice"
    assert base64.b64decode(one["data"]["chunk"]) == pcm


def _output(chunk: str, rate=16000) -> str:
    return json.dumps(
        {"trigger": "realtime_audio.bot_output", "data": {"chunk": chunk, "sample_rate": rate}}
    )


GOOD_CHUNK = base64.b64encode(b"\x01\x00\x02\x00").decode()


@pytest.mark.parametrize("rate", realtime_audio.OUTPUT_SAMPLE_RATES)
def test_bot_output_parses_to_pcm_at_its_rate(rate):
    assert parse_incoming(_output(GOOD_CHUNK, rate)) == BotOutput(b"\x01\x00\x02\x00", rate)


def test_clear_bot_output_is_barge_in():
    assert parse_incoming(json.dumps({"trigger": "realtime_audio.clear_bot_output"})) == (
        ClearBotOutput()
    )


# (id, raw message, a phrase the error must contain)
GARBAGE = [
    ("binary", b"\x00\x01", "binary websocket messages are not accepted"),
    ("not-json", "hello", "message is not JSON"),
    ("json-array", "[1, 2]", "must be a JSON object"),
    ("no-trigger", json.dumps({"data": {}}), "message has no trigger; expected one of"),
    ("wrong-trigger", json.dumps({"trigger": "realtime_audio.mixed"}), "unknown trigger"),
    ("trigger-not-string", json.dumps({"trigger": 5}), "trigger must be a short string"),
    (
        "huge-trigger-not-echoed",
        json.dumps({"trigger": "x" * 500}),
        "trigger must be a short string",
    ),
    (
        "no-data",
        json.dumps({"trigger": "realtime_audio.bot_output"}),
        "needs data with chunk and sample_rate",
    ),
    ("odd-rate", _output(GOOD_CHUNK, 44100), "sample_rate must be one of 8000, 16000, 24000"),
    ("rate-string", _output(GOOD_CHUNK, "16000"), "sample_rate must be one of"),
    (
        "rate-missing",
        json.dumps({"trigger": "realtime_audio.bot_output", "data": {"chunk": GOOD_CHUNK}}),
        "not None",
    ),
    ("chunk-empty", _output(""), "chunk must be a non-empty base64 string"),
    ("chunk-not-string", _output(5), "chunk must be a non-empty base64 string"),  # type: ignore[arg-type]
    ("bad-base64", _output("not base64!!"), "chunk is not valid base64"),
    ("odd-bytes", _output(base64.b64encode(b"\x01\x02\x03").decode()), "whole 16-bit samples"),
    (
        "chunk-too-big",
        _output(base64.b64encode(b"\x00" * (MAX_CHUNK_BYTES + 2)).decode()),
        "over the",
    ),
    ("message-too-big", "x" * (realtime_audio.MAX_MESSAGE_BYTES + 1), "over the"),
]


@pytest.mark.parametrize(("raw", "phrase"), [r[1:] for r in GARBAGE], ids=[r[0] for r in GARBAGE])
def test_garbage_is_a_protocol_error_saying_what_was_wrong(raw, phrase):
    with pytest.raises(ProtocolError) as caught:
        parse_incoming(raw)
    assert phrase in str(caught.value)
    assert len(str(caught.value)) < 300
