"""Every table of sitin (SQLAlchemy Core). Every foreign key is indexed.

Captured meeting data (utterances, audio segments, participants, participant events, chat messages,
chat-message requests, log entries, webhook delivery attempts, recordings' files) belongs to one bot
and is written only through ``sitin.db.capture`` (the deletion fence).
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from sitin.core.states import TERMINAL

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Json = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
Timestamp = DateTime(timezone=True)
AutoId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only


def _bot_fk() -> Column:
    return Column("bot_id", String(32), ForeignKey("bots.id", ondelete="CASCADE"), nullable=False)


projects = Table(
    "projects",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("data_retention_seconds", Integer, nullable=True),
    Column("settings", Json, nullable=False, default=dict),
    Column("created_at", Timestamp, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", Timestamp, nullable=False),
    Column("disabled_at", Timestamp, nullable=True),
    Index(None, "project_id"),
)

_terminal_states = ", ".join(f"'{s.value}'" for s in sorted(TERMINAL))

bots = Table(
    "bots",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("meeting_url", Text, nullable=False),
    Column("platform", String(32), nullable=False),
    Column("state", String(64), nullable=False),
    Column("join_at", Timestamp, nullable=True),
    Column("deduplication_key", String(1024), nullable=True),
    Column("metadata", Json, nullable=True),
    Column("settings", Json, nullable=False),
    Column("data_retention_seconds", Integer, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("ended_at", Timestamp, nullable=True),
    Column("first_heartbeat_at", Timestamp, nullable=True),
    Column("last_heartbeat_at", Timestamp, nullable=True),
    Index(None, "project_id", "created_at", "id"),
    Index(None, "state"),
    Index(None, "join_at"),
    Index(
        "uq_bots_active_deduplication_key",
        "project_id",
        "deduplication_key",
        unique=True,
        sqlite_where=text(f"deduplication_key IS NOT NULL AND state NOT IN ({_terminal_states})"),
        postgresql_where=text(
            f"deduplication_key IS NOT NULL AND state NOT IN ({_terminal_states})"
        ),
    ),
)

bot_events = Table(
    "bot_events",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    _bot_fk(),
    Column("event_type", String(64), nullable=False),
    Column("sub_type", String(64), nullable=True),
    Column("old_state", String(64), nullable=False),
    Column("new_state", String(64), nullable=False),
    Column("metadata", Json, nullable=False, default=dict),
    Column("created_at", Timestamp, nullable=False),
    Index(None, "bot_id", "id"),
)

# Commands for a running bot (leave, pause, resume, send chat): the database is the queue.
bot_commands = Table(
    "bot_commands",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    _bot_fk(),
    Column("command", String(64), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("consumed_at", Timestamp, nullable=True),
    Index(None, "bot_id", "consumed_at"),
)

recordings = Table(
    "recordings",
    metadata,
    Column("id", String(32), primary_key=True),
    _bot_fk(),
    Column("format", String(16), nullable=False),
    Column("state", String(32), nullable=False),
    Column("transcription_state", String(32), nullable=False),
    Column("blob_key", Text, nullable=True),
    Column("blob_size", BigInteger, nullable=True),
    Column("first_buffer_timestamp_ms", BigInteger, nullable=True),
    Column("started_at", Timestamp, nullable=True),
    Column("completed_at", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index(None, "bot_id"),
)

participants = Table(
    "participants",
    metadata,
    Column("id", String(32), primary_key=True),
    _bot_fk(),
    # name, uuid and user_uuid are sealed (sitin.db.sealing); uuid_hash is the keyed hash that
    # finds a participant by uuid.
    Column("uuid", Text, nullable=False),
    Column("uuid_hash", String(64), nullable=True),  # null only before `sitin storage encrypt`
    Column("user_uuid", Text, nullable=True),
    Column("name", Text, nullable=False),
    Column("is_host", Boolean, nullable=False, default=False),
    Column("created_at", Timestamp, nullable=False),
    UniqueConstraint("bot_id", "uuid_hash"),
    Index(None, "bot_id", "created_at", "id"),
)

participant_events = Table(
    "participant_events",
    metadata,
    Column("id", String(32), primary_key=True),
    _bot_fk(),
    Column(
        "participant_id",
        String(32),
        ForeignKey("participants.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_type", String(32), nullable=False),
    Column("event_data", Json, nullable=False, default=dict),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Index(None, "bot_id", "created_at", "id"),
    Index(None, "participant_id"),
)

utterances = Table(
    "utterances",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    _bot_fk(),
    Column(
        "recording_id", String(32), ForeignKey("recordings.id", ondelete="CASCADE"), nullable=False
    ),
    Column(
        "participant_id",
        String(32),
        ForeignKey("participants.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("source", String(32), nullable=False, default="realtime"),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("transcription", Json, nullable=True),  # null until transcribed
    Column("failure_data", Json, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index(None, "bot_id", "timestamp_ms"),
    Index(None, "recording_id"),
    Index(None, "participant_id"),
)

audio_segments = Table(
    "audio_segments",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    _bot_fk(),
    Column(
        "recording_id", String(32), ForeignKey("recordings.id", ondelete="CASCADE"), nullable=False
    ),
    Column(
        "participant_id",
        String(32),
        ForeignKey("participants.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("blob_key", Text, nullable=False),
    Column("blob_size", BigInteger, nullable=False),
    Column("sample_rate", Integer, nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Index(None, "bot_id"),
    Index(None, "recording_id"),
    Index(None, "participant_id"),
)

chat_messages = Table(
    "chat_messages",
    metadata,
    Column("id", String(32), primary_key=True),
    _bot_fk(),
    Column(
        "participant_id",
        String(32),
        ForeignKey("participants.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("text", Text, nullable=False),
    Column("timestamp", BigInteger, nullable=False),  # epoch seconds, as Attendee
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("to", String(32), nullable=False),
    Column("additional_data", Json, nullable=False, default=dict),
    Column("created_at", Timestamp, nullable=False),
    Index(None, "bot_id", "created_at", "id"),
    Index(None, "participant_id"),
)

bot_chat_message_requests = Table(
    "bot_chat_message_requests",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    _bot_fk(),
    Column("to", String(32), nullable=False),
    Column("to_user_uuid", Text, nullable=True),
    Column("message", Text, nullable=False),
    Column("state", String(16), nullable=False, default="pending"),
    Column("created_at", Timestamp, nullable=False),
    Column("sent_at", Timestamp, nullable=True),
    Column("failure_data", Json, nullable=True),
    Index(None, "bot_id", "state"),
)

# Audio files and texts the bot was asked to play or speak, waiting for it to take them: the bot
# deletes each row as it takes it, so the content is kept nowhere but in the recording.
bot_output_requests = Table(
    "bot_output_requests",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    _bot_fk(),
    Column("kind", String(16), nullable=False),  # "audio" or "speech"
    Column("container", String(16), nullable=True),  # audio: "mp3" or "wav"
    Column("data", LargeBinary, nullable=True),  # audio: the file
    Column("text", Text, nullable=True),  # speech: the words
    Column("settings", Json, nullable=True),  # speech: text_to_speech_settings, normalised
    Column("created_at", Timestamp, nullable=False),
    Index(None, "bot_id", "id"),
)

bot_log_entries = Table(
    "bot_log_entries",
    metadata,
    Column("id", String(32), primary_key=True),
    _bot_fk(),
    Column("level", String(16), nullable=False),
    Column("entry_type", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Index(None, "bot_id", "created_at"),
)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("bot_id", String(32), ForeignKey("bots.id", ondelete="CASCADE"), nullable=True),
    Column("url", Text, nullable=False),
    Column("triggers", Json, nullable=False),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("created_at", Timestamp, nullable=False),
    Index(None, "project_id"),
    Index(None, "bot_id"),
)

webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("secret_encrypted", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=True),  # set when rotated out
    Index(None, "project_id"),
)

webhook_delivery_attempts = Table(
    "webhook_delivery_attempts",
    metadata,
    Column("id", String(64), primary_key=True),  # the idempotency key (uuid4)
    Column(
        "subscription_id",
        String(32),
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("bot_id", String(32), ForeignKey("bots.id", ondelete="CASCADE"), nullable=True),
    Column("trigger", String(64), nullable=False),
    Column("payload", Json, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempt_count", Integer, nullable=False, default=0),
    Column("attempts", Json, nullable=False, default=list),
    Column("next_attempt_at", Timestamp, nullable=True),
    Column("succeeded_at", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Index(None, "subscription_id"),
    Index(None, "bot_id", "created_at"),
    Index(None, "status", "next_attempt_at"),
)

# Blob prefixes whose deletion was committed but not yet verified complete (crash-safe journal).
deletion_journal = Table(
    "deletion_journal",
    metadata,
    Column("bot_id", String(32), primary_key=True),
    Column("prefix", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
)

# Worker processes that run bots: each declares the load it can carry and heartbeats; a row
# whose heartbeats stopped is removed by the reaper (its claims with it).
workers = Table(
    "workers",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False),  # host:pid, for operators
    Column("capacity", Float, nullable=False),
    Column("started_at", Timestamp, nullable=False),
    Column("heartbeat_at", Timestamp, nullable=False),
)

# Which worker runs which bot and at what cost (sitin.core.capacity): a worker's load is the sum.
worker_claims = Table(
    "worker_claims",
    metadata,
    Column("bot_id", String(32), ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True),
    Column("worker_id", String(32), ForeignKey("workers.id", ondelete="CASCADE"), nullable=False),
    Column("cost", Float, nullable=False),
    Column("claimed_at", Timestamp, nullable=False),
    Index(None, "worker_id"),
)

# Tables holding captured meeting data, keyed by bot_id: what delete_data removes wholesale.
CAPTURED_TABLES = (
    utterances,
    audio_segments,
    participant_events,
    chat_messages,
    participants,
    bot_chat_message_requests,
    bot_output_requests,
    bot_log_entries,
)
