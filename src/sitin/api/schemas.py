"""Pydantic models that document the wire format in the OpenAPI schema.

Requests are validated by ``core.validation`` (Attendee's exact rules and messages); these models
describe the same shapes for ``/api/schema`` and the docs, and responses are built to match them.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from sitin.core.states import BOT_STATES, RecordingState, TranscriptionState

BotStateName = Literal[tuple(s.value for s in BOT_STATES)]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Error(BaseModel):
    error: str


class Detail(BaseModel):
    detail: str


class FieldErrors(RootModel[dict[str, list[str] | dict[str, Any]]]):
    """Invalid fields: ``{"field": ["message", ...]}``, an object for nested fields."""


class BadRequest(RootModel[Error | Detail | FieldErrors]):
    """A broken rule ``{"error"}``, unreadable JSON ``{"detail"}``, or invalid fields."""


class NotFound(RootModel[Error | Detail]):
    """``{"error": "Bot not found"}``, or ``{"detail": "Invalid cursor"}`` for a bad cursor."""


class BotEventRead(BaseModel):
    type: str
    sub_type: str | None = Field(None, description="Present only when the event has one")
    created_at: str


class BotRead(BaseModel):
    id: str
    metadata: dict[str, str] | None
    meeting_url: str
    state: BotStateName
    events: list[BotEventRead]
    transcription_state: Literal[tuple(s.value for s in TranscriptionState)] | None  # type: ignore[valid-type]
    recording_state: Literal[tuple(s.value for s in RecordingState)] | None  # type: ignore[valid-type]
    join_at: str | None
    deduplication_key: str | None


class BotPage(BaseModel):
    next: str | None
    previous: str | None
    results: list[BotRead]


class ChatMessageSend(_Strict):
    to: Literal["everyone", "specific_user", "everyone_but_host"] = "everyone"
    to_user_uuid: str | None = None
    message: str = Field(min_length=1, max_length=10000)


class OutputAudio(_Strict):
    type: Literal["audio/mp3", "audio/mpeg", "audio/wav", "audio/x-wav", "audio/wave"]
    data: str = Field(min_length=1, description="Base64 of an mp3 or wav file, at most 10 MB")


class Speech(_Strict):
    text: str = Field(min_length=1, max_length=5000)
    text_to_speech_settings: dict[str, Any] | None = Field(
        default=None,
        description='One engine: {"offline": {"language", "speed"}} (the default), '
        '{"openai": {"model", "voice", "instructions"}} with the project\'s openai account, or '
        'Attendee\'s {"google": {"voice_language_code", "voice_name"}}, spoken by the offline '
        "engine in that language",
    )


class BotImage(_Strict):
    type: Literal["image/png", "image/jpeg"]
    data: str = Field(min_length=1, description="Base64 image bytes")


class RecordingSettings(_Strict):
    format: Literal["mp3", "webm", "mp4", "none"] = "mp3"
    view: Literal["speaker_view", "gallery_view", "speaker_view_no_sidebar"] = "speaker_view"
    resolution: Literal["1080p", "720p"] = "1080p"
    record_chat_messages_when_paused: bool = False
    record_async_transcription_audio_chunks: bool = False
    record_participant_speech_start_stop_events: bool = False
    reserve_additional_storage: bool = False


class AutomaticLeaveSettings(_Strict):
    silence_timeout_seconds: int = Field(600, gt=0)
    silence_activate_after_seconds: int = Field(1200, gt=0)
    only_participant_in_meeting_timeout_seconds: int = Field(60, gt=0)
    wait_for_host_to_start_meeting_timeout_seconds: int = Field(600, gt=0)
    waiting_room_timeout_seconds: int = Field(900, gt=0)
    max_uptime_seconds: int | None = Field(None, gt=0)
    enable_closed_captions_timeout_seconds: int | None = Field(None, gt=0)
    authorized_user_not_in_meeting_timeout_seconds: int = Field(600, gt=0)
    bot_keywords: list[str] | None = None


class BotWebhook(_Strict):
    url: str = Field(pattern=r"^https?://")
    triggers: list[str] = Field(min_length=1)


class BotCreate(_Strict):
    meeting_url: str = Field(min_length=1, examples=["http://127.0.0.1:8000/rooms/standup"])
    bot_name: str = Field(min_length=1, max_length=255)
    bot_image: BotImage | None = None
    bot_chat_message: ChatMessageSend | None = None
    metadata: dict[str, str] | None = None
    join_at: str | None = Field(None, description="ISO-8601; makes the bot scheduled")
    deduplication_key: str | None = Field(None, min_length=1, max_length=1024)
    transcription_settings: dict[str, dict[str, Any]] | None = Field(
        None,
        description='{"offline": {}} (default), {"openai": {...}}, {"deepgram": {...}} or '
        '{"none": {}} (record only)',
    )
    recording_settings: RecordingSettings | None = None
    automatic_leave_settings: AutomaticLeaveSettings | None = None
    webhooks: list[BotWebhook] | None = Field(None, max_length=2)
    data_retention_seconds: int | None = Field(
        None, gt=0, description="Delete the captured data this long after the bot ends"
    )


class BotPatch(BaseModel):
    join_at: str | None = None
    meeting_url: str | None = None
    bot_name: str | None = None
    bot_image: BotImage | None = None
    recording_settings: RecordingSettings | None = None
    metadata: dict[str, str] | None = None


class Utterance(BaseModel):
    speaker_name: str
    speaker_uuid: str
    speaker_user_uuid: str | None
    speaker_is_host: bool
    timestamp_ms: int
    duration_ms: int
    transcription: dict[str, Any]


class RecordingRead(BaseModel):
    url: str
    start_timestamp_ms: int | None


class ParticipantRead(BaseModel):
    id: str
    name: str
    uuid: str
    user_uuid: str | None
    is_host: bool


class ParticipantPage(BaseModel):
    next: str | None
    previous: str | None
    results: list[ParticipantRead]


class ParticipantEventRead(BaseModel):
    id: str
    participant_name: str
    participant_uuid: str
    participant_user_uuid: str | None
    participant_is_host: bool
    event_type: Literal["join", "leave", "speech_start", "speech_stop"]
    event_data: dict[str, Any]
    timestamp_ms: int


class ParticipantEventPage(BaseModel):
    next: str | None
    previous: str | None
    results: list[ParticipantEventRead]


class ChatMessageRead(BaseModel):
    id: str
    text: str
    timestamp: int
    timestamp_ms: int
    to: str
    sender_name: str
    sender_uuid: str
    sender_user_uuid: str | None
    additional_data: dict[str, Any]


class ChatMessagePage(BaseModel):
    next: str | None
    previous: str | None
    results: list[ChatMessageRead]


# Where an operation carries the schemas of its hand-validated body (the model and the models
# nested in it) until the app moves them into the OpenAPI components (``api/app.py``).
BODY_COMPONENTS = "x-sitin-body-components"


def body(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON request body validated by hand."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {
        "requestBody": {
            "required": required,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        },
        BODY_COMPONENTS: {**schema.pop("$defs", {}), model.__name__: schema},
    }
