"""Which columns hold captured content, and opening them for a read.

Captured content is sealed on the way in (``db.capture``, ``webhooks.dispatch``) under the bot's
data key, with the column as associated data, and opened on the way out. A value that does not
open (its key destroyed, a restored backup, altered bytes) reads as empty, with one error logged
per read naming the bot and column (never the value): clients get an empty item, never a 500 and
never another bot's plaintext.
"""

import logging
from collections.abc import Callable
from typing import Any

from sitin.encryption import ContentUnreadable, DataKey

log = logging.getLogger(__name__)

# Looks the bot's data key up when a value is first opened (see Opener).
KeySource = Callable[[], DataKey | None]

# Associated data of each sealed column: a ciphertext opens only in the column it was made for.
PARTICIPANT_NAME = "participants.name"
PARTICIPANT_UUID = "participants.uuid"
PARTICIPANT_USER_UUID = "participants.user_uuid"
PARTICIPANT_EVENT_DATA = "participant_events.event_data"
UTTERANCE_TRANSCRIPTION = "utterances.transcription"
UTTERANCE_FAILURE = "utterances.failure_data"
CHAT_TEXT = "chat_messages.text"
CHAT_ADDITIONAL_DATA = "chat_messages.additional_data"
CHAT_REQUEST_MESSAGE = "bot_chat_message_requests.message"
CHAT_REQUEST_TO_USER = "bot_chat_message_requests.to_user_uuid"
CHAT_REQUEST_FAILURE = "bot_chat_message_requests.failure_data"
LOG_MESSAGE = "bot_log_entries.message"
OUTPUT_AUDIO = "bot_output_requests.data"
OUTPUT_TEXT = "bot_output_requests.text"
WEBHOOK_PAYLOAD = "webhook_delivery_attempts.payload"
WEBHOOK_RESPONSE = "webhook_delivery_attempts.response_excerpt"  # a receiver may echo content
# An event's metadata beyond the allow-list (``core.scrub``) is kept sealed under this key of it.
EVENT_METADATA = "bot_events.metadata"
SEALED_EVENT_KEY = "sealed"

# (table, column, purpose, kind) of every column sealed as a whole: what the in-place migration
# encrypts and what verification scans. kind "text" holds a sealed string; "json" a JSON string
# value. Sealed within or beside a column instead, each by a pass of its own in
# ``encryption.existing``: EVENT_METADATA (one key of bot_events.metadata), WEBHOOK_PAYLOAD (the
# whole payload of a content delivery, and of a state change whose event metadata goes beyond
# the allow-list), WEBHOOK_RESPONSE (each attempt's response_excerpt in the attempts list) and
# OUTPUT_AUDIO (bytes, no prefix: a value is sealed when it opens).
SEALED_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("participants", "name", PARTICIPANT_NAME, "text"),
    ("participants", "uuid", PARTICIPANT_UUID, "text"),
    ("participants", "user_uuid", PARTICIPANT_USER_UUID, "text"),
    ("participant_events", "event_data", PARTICIPANT_EVENT_DATA, "json"),
    ("utterances", "transcription", UTTERANCE_TRANSCRIPTION, "json"),
    ("utterances", "failure_data", UTTERANCE_FAILURE, "json"),
    ("chat_messages", "text", CHAT_TEXT, "text"),
    ("chat_messages", "additional_data", CHAT_ADDITIONAL_DATA, "json"),
    ("bot_chat_message_requests", "message", CHAT_REQUEST_MESSAGE, "text"),
    ("bot_chat_message_requests", "to_user_uuid", CHAT_REQUEST_TO_USER, "text"),
    ("bot_chat_message_requests", "failure_data", CHAT_REQUEST_FAILURE, "json"),
    ("bot_log_entries", "message", LOG_MESSAGE, "text"),
    ("bot_output_requests", "text", OUTPUT_TEXT, "text"),
)


class Opener:
    """Opens one bot's sealed values during one read. Repeated ciphertexts (a speaker's name on
    every utterance) are opened once."""

    def __init__(self, bot_id: str, key: DataKey | KeySource | None):
        """``key`` may be a KeySource, asked when the first value is opened, i.e. after the rows
        were read: a read that found the bot with no key yet passes one, since its rows may
        include the bot's first, committed meanwhile under a key made for them."""
        self.bot_id = bot_id
        self._key = key
        self._seen: dict[str, Any] = {}
        self._failed: set[str] = set()

    @property
    def key(self) -> DataKey | None:
        if callable(self._key):
            self._key = self._key()
        return self._key

    def _opening_key(self) -> DataKey:
        key = self.key
        if key is None:
            raise ContentUnreadable("the bot has no data key (its data was deleted)")
        return key

    def text(self, value: str | None, purpose: str, empty: str | None = "") -> str | None:
        if value is None:
            return None
        cached = self._seen.get(value)
        if cached is not None:
            return cached
        try:
            opened = self._opening_key().open_text(value, purpose)
        except ContentUnreadable as exc:
            self._unreadable(purpose, exc)
            return empty
        self._seen[value] = opened
        return opened

    def json(self, value: Any, purpose: str, empty: Any = None) -> Any:
        if value is None:
            return None
        try:
            return self._opening_key().open_json(value, purpose)
        except (ContentUnreadable, ValueError) as exc:
            self._unreadable(purpose, exc)
            return empty

    def json_column_texts(self, texts: list[str], purpose: str) -> list[bytes | None]:
        """For each JSON column value read as its text (``encryption.aead`` says why), the JSON
        text it was sealed as, unparsed (for a response that embeds it); ``None`` for one that
        does not open."""
        if not texts:
            return []
        try:
            opened = self._opening_key().open_json_column_texts(texts, purpose)
        except ContentUnreadable as exc:  # no key
            self._unreadable(purpose, exc)
            return [None] * len(texts)
        failure = next((item for item in opened if isinstance(item, ContentUnreadable)), None)
        if failure is None:
            return opened  # type: ignore[return-value]  # every item opened
        self._unreadable(purpose, failure)
        return [None if isinstance(item, ContentUnreadable) else item for item in opened]

    def _unreadable(self, purpose: str, exc: Exception) -> None:
        if purpose not in self._failed:
            self._failed.add(purpose)
            log.error("bot %s: %s cannot be read: %s", self.bot_id, purpose, exc)
