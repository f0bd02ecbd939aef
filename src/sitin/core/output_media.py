"""`POST /bots/{id}/output_audio` bodies (Attendee's rules and messages), and why rooms refuse
images and video. Pure: the decoded bytes are checked by their magic numbers only; the bot decodes
them when it plays them.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from sitin.core.errors import RuleError

MAX_AUDIO_BYTES = 10 * 1024 * 1024  # Attendee's limit, on the decoded file
# Accepted content types and the container each one names.
AUDIO_TYPES = {
    "audio/mp3": "mp3",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
}
NO_VIDEO = (
    "sitin's rooms carry no video: a bot can speak (output_audio, speech) but cannot show {what}"
)


@dataclass(frozen=True, eq=False)
class OutputAudio:
    container: str  # "mp3" or "wav"
    data: bytes


def validate_output_audio(body: Any) -> OutputAudio:
    """The audio to play; RuleError (400 ``{"error"}``) with Attendee's messages otherwise."""
    if not isinstance(body, dict) or not body.get("type") or not body.get("data"):
        raise RuleError("Both type and data are required")
    kind, data = body["type"], body["data"]
    if not isinstance(kind, str):
        raise RuleError("Invalid audio content type")
    if kind not in AUDIO_TYPES:
        raise RuleError("Invalid audio content type. Allowed: " + ", ".join(AUDIO_TYPES))
    if not isinstance(data, str) or len(data) > (MAX_AUDIO_BYTES + 2) // 3 * 4 + 4:
        if isinstance(data, str):
            raise RuleError(f"Audio data must be at most {MAX_AUDIO_BYTES // (1024 * 1024)} MB")
        raise RuleError("Invalid base64 encoded data")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise RuleError("Invalid base64 encoded data") from None
    if len(raw) > MAX_AUDIO_BYTES:
        raise RuleError(f"Audio data must be at most {MAX_AUDIO_BYTES // (1024 * 1024)} MB")
    container = AUDIO_TYPES[kind]
    if not _looks_like(container, raw):
        raise RuleError(f"Data is not a valid {container} file (type was {kind})")
    return OutputAudio(container, raw)


def _looks_like(container: str, raw: bytes) -> bool:
    if container == "wav":
        return len(raw) > 12 and raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"
    # an ID3 tag, or an MPEG audio frame sync (11 set bits)
    return raw[:3] == b"ID3" or (len(raw) > 1 and raw[0] == 0xFF and raw[1] & 0xE0 == 0xE0)


def no_video(what: str) -> RuleError:
    return RuleError(NO_VIDEO.format(what=what))
