"""POST output_audio / speech / output_image / output_video: Attendee's messages for bad bodies,
only while the bot is in the meeting (400 naming the state), another project's bot is a 404, and
what is accepted is queued for the bot with a wake-up (the bot itself is tested in e2e)."""

import base64
import io
import wave
from types import SimpleNamespace

import numpy as np
import pytest
from sqlalchemy import select

from sitin.core.errors import RuleError
from sitin.core.output_media import MAX_AUDIO_BYTES, validate_output_audio
from sitin.core.states import JOINED
from sitin.db.sealing import OUTPUT_AUDIO, OUTPUT_TEXT
from sitin.db.tables import bot_commands, bot_output_requests
from support.settings import ROOM_URL

IN_MEETING = ", ".join(sorted(state.value for state in JOINED))


def wav_bytes(seconds: float = 0.2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(np.zeros(int(16000 * seconds), dtype="<i2").tobytes())
    return buffer.getvalue()


WAV = base64.b64encode(wav_bytes()).decode()
MP3 = base64.b64encode(b"ID3\x04\x00" + b"\x00" * 64).decode()


def _post(client, project, bot_id, suffix, body=None):
    return client.post(f"/api/v1/bots/{bot_id}{suffix}", json=body, headers=project.headers)


def _queued(ctx, bot_id):
    """The bot's queued output requests as the bot will read them (opened with its key), and its
    wake-up commands. The raw columns hold ciphertext only."""
    key = ctx.keys.key_for_reading(bot_id)
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(bot_output_requests).where(bot_output_requests.c.bot_id == bot_id)
        ).all()
        requests = [
            SimpleNamespace(
                **{
                    **row._mapping,
                    "data": None if row.data is None else key.open(row.data, OUTPUT_AUDIO.encode()),
                    "text": key.open_text(row.text, OUTPUT_TEXT),
                }
            )
            for row in rows
        ]
        commands = conn.execute(
            select(bot_commands.c.command).where(bot_commands.c.bot_id == bot_id)
        ).scalars()
        return requests, [c for c in commands if c == "sync_output_requests"]


def test_output_audio_is_queued_for_the_bot(ctx, client, project, bot_in):
    bot_id = bot_in("joined_recording")
    for kind, data in (("audio/wav", WAV), ("audio/mp3", MP3), ("audio/mpeg", MP3)):
        response = _post(client, project, bot_id, "/output_audio", {"type": kind, "data": data})
        assert (response.status_code, response.content) == (200, b"")
    requests, commands = _queued(ctx, bot_id)
    assert [(r.kind, r.container) for r in requests] == [
        ("audio", "wav"),
        ("audio", "mp3"),
        ("audio", "mp3"),
    ]
    assert requests[0].data == wav_bytes()
    assert len(commands) == 3
    assert ctx.bots.woken == [bot_id] * 3


TOO_BIG = base64.b64encode(b"ID3" + b"\x00" * (MAX_AUDIO_BYTES - 2)).decode()

# (id, body, Attendee's (or our) message)
BAD_AUDIO = [
    ("empty", {}, "Both type and data are required"),
    ("no-data", {"type": "audio/mp3"}, "Both type and data are required"),
    ("no-type", {"data": MP3}, "Both type and data are required"),
    ("not-object", ["audio/mp3", MP3], "Both type and data are required"),
    (
        "bad-type",
        {"type": "audio/ogg", "data": MP3},
        "Invalid audio content type. Allowed: audio/mp3, audio/mpeg, audio/wav, audio/x-wav, "
        "audio/wave",
    ),
    ("type-not-string", {"type": 3, "data": MP3}, "Invalid audio content type"),
    ("bad-base64", {"type": "audio/mp3", "data": "%%%"}, "Invalid base64 encoded data"),
    ("data-not-string", {"type": "audio/mp3", "data": 12}, "Invalid base64 encoded data"),
    (
        "wav-that-is-not",
        {"type": "audio/wav", "data": MP3},
        "Data is not a valid wav file (type was audio/wav)",
    ),
    (
        "mp3-that-is-not",
        {"type": "audio/mp3", "data": base64.b64encode(b"hello world").decode()},
        "Data is not a valid mp3 file (type was audio/mp3)",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"), [r[1:] for r in BAD_AUDIO], ids=[r[0] for r in BAD_AUDIO]
)
def test_output_audio_refusals(ctx, client, project, bot_in, body, message):
    bot_id = bot_in("joined_recording")
    response = _post(client, project, bot_id, "/output_audio", body)
    assert (response.status_code, response.json()) == (400, {"error": message})
    assert _queued(ctx, bot_id) == ([], [])


def test_output_audio_validates_the_body_before_the_bot(client, project):
    """As Attendee: a bad body is a 400 even for an unknown bot."""
    response = _post(client, project, "bot_unknown", "/output_audio", {})
    assert response.json() == {"error": "Both type and data are required"}
    good = _post(
        client, project, "bot_unknown", "/output_audio", {"type": "audio/wav", "data": WAV}
    )
    assert good.status_code == 404


def test_speech_is_queued_with_normalised_settings(ctx, client, project, bot_in):
    bot_id = bot_in("joined_not_recording")
    plain = _post(client, project, bot_id, "/speech", {"text": "Hello everyone."})
    google = _post(
        client,
        project,
        bot_id,
        "/speech",
        {
            "text": "Bonjour.",
            "text_to_speech_settings": {
                "google": {"voice_language_code": "fr-FR", "voice_name": "fr-FR-Standard-A"}
            },
        },
    )
    assert plain.status_code == google.status_code == 200
    requests, commands = _queued(ctx, bot_id)
    assert [(r.kind, r.text, r.settings) for r in requests] == [
        ("speech", "Hello everyone.", {"offline": {"language": "en-US", "speed": 1.0}}),
        ("speech", "Bonjour.", {"offline": {"language": "fr-FR", "speed": 1.0}}),
    ]
    assert len(commands) == 2


def test_speech_refusals_name_what_is_allowed(ctx, client, project, bot_in):
    bot_id = bot_in("joined_recording")
    blank = _post(client, project, bot_id, "/speech", {"text": " "})
    assert blank.json() == {"error": "text is required: the words the bot should say"}
    japanese = _post(
        client,
        project,
        bot_id,
        "/speech",
        {"text": "hi", "text_to_speech_settings": {"google": {"voice_language_code": "ja-JP"}}},
    )
    assert japanese.status_code == 400
    assert "engines: offline, openai, google" in japanese.json()["error"]
    assert _queued(ctx, bot_id) == ([], [])


@pytest.mark.parametrize("state", ["scheduled", "joining", "waiting_room", "leaving", "ended"])
def test_output_only_while_the_bot_is_in_the_meeting(ctx, client, project, bot_in, state):
    bot_id = bot_in(state)
    audio = _post(client, project, bot_id, "/output_audio", {"type": "audio/wav", "data": WAV})
    speech = _post(client, project, bot_id, "/speech", {"text": "hello"})
    assert audio.json() == {
        "error": f"Bot is in state {state} and cannot play audio. "
        f"It must be in one of these states: {IN_MEETING}"
    }
    assert speech.json() == {
        "error": f"Bot is in state {state} and cannot speak. "
        f"It must be in one of these states: {IN_MEETING}"
    }
    assert _queued(ctx, bot_id) == ([], [])


@pytest.mark.parametrize(
    ("route", "what"), [("/output_image", "an image"), ("/output_video", "a video")]
)
def test_image_and_video_are_refused_because_rooms_carry_no_video(
    client, project, bot_in, route, what
):
    bot_id = bot_in("joined_recording")
    response = _post(client, project, bot_id, route, {"type": "image/png", "data": "x"})
    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "sitin's rooms carry no video: a bot can speak (output_audio, speech) but "
            f"cannot show {what}"
        },
    )


@pytest.mark.parametrize("route", ["/output_audio", "/speech", "/output_image", "/output_video"])
def test_another_projects_bot_is_not_found(client, project, other_project, bot_in, route):
    bot_id = bot_in("joined_recording")
    body = {}
    if route == "/output_audio":
        body = {"type": "audio/wav", "data": WAV}
    elif route == "/speech":
        body = {"text": "hello"}
    response = _post(client, other_project, bot_id, route, body)
    assert response.status_code == 404
    assert response.json()["error"] == "Bot not found"


def test_websocket_targets_pass_the_outbound_guard_at_creation(client, project):
    """wss:// to public hosts by default; a loopback or ws:// target is refused, naming the
    setting that would allow it."""
    room = ROOM_URL
    for url in ("ws://127.0.0.1:9/agent", "wss://localhost/agent", "wss://10.0.0.7/agent"):
        response = client.post(
            "/api/v1/bots",
            json={
                "meeting_url": room,
                "bot_name": "Agent",
                "websocket_settings": {"audio": {"url": url}},
            },
            headers=project.headers,
        )
        assert response.status_code == 400, url
        (message,) = response.json()["websocket_settings"]
        assert message.startswith("audio.url: realtime websocket URL"), message
        assert "SITIN_OUTBOUND_HOSTS" in message


def test_audio_up_to_10_mb_passes_the_body_limit_that_other_routes_keep(client, new_bot, project):
    """Attendee accepts output_audio files up to 10 MB: the route's body limit allows them even
    though SITIN_MAX_BODY_BYTES (2 MiB by default) refuses such a body elsewhere."""
    bot = new_bot()
    body = {"type": "audio/mp3", "data": base64.b64encode(b"ID3" + b"\x00" * 3_000_000).decode()}
    response = client.post(
        f"/api/v1/bots/{bot['id']}/output_audio", json=body, headers=project.headers
    )
    assert response.status_code == 400, response.text  # read in full: the bot is not in a meeting
    assert "cannot" in response.json()["error"] and "state" in response.json()["error"]
    elsewhere = client.patch(f"/api/v1/bots/{bot['id']}", json=body, headers=project.headers)
    assert elsewhere.status_code == 413
    assert "SITIN_MAX_BODY_BYTES" in elsewhere.json()["detail"]


def test_audio_over_10_mb_is_refused():
    with pytest.raises(RuleError) as caught:
        validate_output_audio({"type": "audio/mp3", "data": TOO_BIG})
    assert str(caught.value) == "Audio data must be at most 10 MB"
