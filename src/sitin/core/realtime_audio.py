"""Attendee's realtime-audio websocket protocol, and the create-bot settings that turn it on.

Pure: validates `websocket_settings`, builds the JSON text messages the bot sends, and parses the
messages a user's server sends back. Audio travels as base64 16-bit little-endian mono PCM.

Bot -> server
    {"bot_id", "trigger": "realtime_audio.mixed",
     "data": {"chunk", "sample_rate", "timestamp_ms", "sequence"}}
    {"bot_id", "trigger": "realtime_audio.per_participant",
     "data": {"chunk", "sample_rate", "timestamp_ms", "sequence",
              "participant_uuid", "participant_name"}}        (participant_name: sitin's extra)
Server -> bot
    {"trigger": "realtime_audio.bot_output", "data": {"chunk", "sample_rate"}}   play this
    {"trigger": "realtime_audio.clear_bot_output"}     barge-in: drop all queued output at once
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MIXED = "realtime_audio.mixed"
PER_PARTICIPANT = "realtime_audio.per_participant"
BOT_OUTPUT = "realtime_audio.bot_output"
CLEAR_BOT_OUTPUT = "realtime_audio.clear_bot_output"
INCOMING_TRIGGERS = (BOT_OUTPUT, CLEAR_BOT_OUTPUT)

MIXED_SAMPLE_RATES = (8000, 16000, 24000)
PER_PARTICIPANT_SAMPLE_RATES = (8000, 16000)
OUTPUT_SAMPLE_RATES = (8000, 16000, 24000)
DEFAULT_SAMPLE_RATE = 16000
STREAM_KINDS = ("audio", "per_participant_audio")
MAX_URL_LENGTH = 2048
# One incoming message may carry at most this much audio (10 s at 24 kHz: 480 kB of PCM, about
# 640 kB of base64). The websocket refuses larger frames before they are even parsed.
MAX_CHUNK_BYTES = 10 * 24000 * 2
MAX_MESSAGE_BYTES = MAX_CHUNK_BYTES * 4 // 3 + 4096


class ProtocolError(ValueError):
    """An incoming message that cannot be used; the message says what was wrong."""


@dataclass(frozen=True)
class StreamSettings:
    """One websocket stream the bot opens: where to, which audio, at which rate."""

    kind: str  # "audio" (mixed) or "per_participant_audio"
    url: str
    sample_rate: int


@dataclass(frozen=True)
class BotOutput:
    """Audio to play into the meeting: 16-bit mono PCM at `sample_rate`."""

    pcm: bytes
    sample_rate: int


@dataclass(frozen=True)
class ClearBotOutput:
    """Barge-in: stop talking now and forget everything queued."""


def validate_websocket_settings(value: Any) -> dict[str, Any] | None:
    """The normalised settings to store (`{kind: {url, sample_rate}}`), or None when absent.

    Raises ValueError naming what was wrong and what is allowed. Only the URL's form is checked
    here; whether its host may be reached is the outbound guard's decision (at creation and on
    every connect).
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("websocket_settings must be an object")
    if "per_participant_video" in value:
        raise ValueError(
            "per_participant_video is not available: sitin's rooms carry no video; "
            "use audio or per_participant_audio"
        )
    unknown = sorted(set(value) - set(STREAM_KINDS))
    if unknown:
        raise ValueError(f"Unexpected attribute: {unknown[0]}. Allowed: {', '.join(STREAM_KINDS)}")
    settings: dict[str, Any] = {}
    for kind in STREAM_KINDS:
        stream = value.get(kind)
        if stream is None:
            continue
        rates = MIXED_SAMPLE_RATES if kind == "audio" else PER_PARTICIPANT_SAMPLE_RATES
        settings[kind] = _validate_stream(kind, stream, rates)
    return settings or None


def _validate_stream(kind: str, value: Any, rates: tuple[int, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{kind} must be an object with url and sample_rate")
    unknown = sorted(set(value) - {"url", "sample_rate"})
    if unknown:
        raise ValueError(f"{kind}: Unexpected attribute: {unknown[0]}. Allowed: url, sample_rate")
    url = value.get("url")
    if url is None:
        raise ValueError(f"{kind}.url is required")
    if not isinstance(url, str) or not url.lower().startswith(("wss://", "ws://")):
        raise ValueError(
            f"{kind}.url must be a wss:// URL (ws:// only to hosts the operator allows)"
        )
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"{kind}.url must be at most {MAX_URL_LENGTH} characters")
    if not urlsplit(url).hostname:
        raise ValueError(f"{kind}.url has no host")
    rate = value.get("sample_rate", DEFAULT_SAMPLE_RATE)
    if not _is_int(rate) or rate not in rates:
        allowed = ", ".join(map(str, rates))
        raise ValueError(f"{kind}.sample_rate must be one of {allowed} (default 16000)")
    return {"url": url, "sample_rate": rate}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def streams(settings: dict[str, Any] | None) -> list[StreamSettings]:
    """The streams stored settings ask for, mixed audio first."""
    settings = settings or {}
    return [
        StreamSettings(kind, settings[kind]["url"], settings[kind]["sample_rate"])
        for kind in STREAM_KINDS
        if kind in settings
    ]


def mixed_message(
    bot_id: str, pcm: bytes, *, sample_rate: int, timestamp_ms: int, sequence: int
) -> str:
    data = _audio_data(pcm, sample_rate, timestamp_ms, sequence)
    return json.dumps({"bot_id": bot_id, "trigger": MIXED, "data": data})


def per_participant_message(
    bot_id: str,
    pcm: bytes,
    *,
    sample_rate: int,
    timestamp_ms: int,
    sequence: int,
    participant_uuid: str,
    participant_name: str | None,
) -> str:
    data = _audio_data(pcm, sample_rate, timestamp_ms, sequence)
    data["participant_uuid"] = participant_uuid
    data["participant_name"] = participant_name
    return json.dumps({"bot_id": bot_id, "trigger": PER_PARTICIPANT, "data": data})


def _audio_data(pcm: bytes, sample_rate: int, timestamp_ms: int, sequence: int) -> dict[str, Any]:
    return {
        "chunk": base64.b64encode(pcm).decode("ascii"),
        "sample_rate": sample_rate,
        "timestamp_ms": timestamp_ms,
        "sequence": sequence,
    }


def parse_incoming(raw: str | bytes) -> BotOutput | ClearBotOutput:
    """One message from the user's server; ProtocolError says what was wrong with it."""
    if isinstance(raw, bytes):
        raise ProtocolError("binary websocket messages are not accepted; send JSON text")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(raw)} bytes is over the {MAX_MESSAGE_BYTES} limit")
    try:
        message = json.loads(raw)
    except ValueError:
        raise ProtocolError("message is not JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError("message must be a JSON object with trigger and data")
    trigger = message.get("trigger")
    if trigger == CLEAR_BOT_OUTPUT:
        return ClearBotOutput()
    if trigger != BOT_OUTPUT:
        expected = f"expected one of {', '.join(INCOMING_TRIGGERS)}"
        if trigger is None:
            raise ProtocolError(f"message has no trigger; {expected}")
        if not isinstance(trigger, str) or len(trigger) > 64:
            raise ProtocolError(f"trigger must be a short string; {expected}")
        raise ProtocolError(f"unknown trigger {trigger!r}; {expected}")
    data = message.get("data")
    if not isinstance(data, dict):
        raise ProtocolError(f"{BOT_OUTPUT} needs data with chunk and sample_rate")
    rate = data.get("sample_rate")
    if not _is_int(rate) or rate not in OUTPUT_SAMPLE_RATES:
        allowed = ", ".join(map(str, OUTPUT_SAMPLE_RATES))
        raise ProtocolError(f"sample_rate must be one of {allowed}, not {rate!r}"[:200])
    chunk = data.get("chunk")
    if not isinstance(chunk, str) or not chunk:
        raise ProtocolError("chunk must be a non-empty base64 string")
    try:
        pcm = base64.b64decode(chunk, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("chunk is not valid base64") from None
    if len(pcm) % 2:
        raise ProtocolError("chunk must hold whole 16-bit samples (an even number of bytes)")
    if len(pcm) > MAX_CHUNK_BYTES:
        raise ProtocolError(f"chunk of {len(pcm)} bytes is over the {MAX_CHUNK_BYTES} limit")
    return BotOutput(pcm, rate)
