"""Bots whose data key is destroyed read as data-deleted, whatever their rows say.

A database backup taken before a delete_data and restored after it brings back the bot's rows
(state ``ended``, utterances, chat, participants) — all ciphertext under a key that no longer
exists. Such a bot is shown as delete_data left it: state ``data_deleted`` with a
``data_deleted`` event at the time its key was destroyed, recording and transcription
``not_started``, and empty results for its transcript, participants, participant events and
chat messages; its recording is a 404. A repeat ``POST delete_data`` purges the restored rows
(the key is already gone), after which ``sitin deletion verify`` passes again.
"""

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sitin.context import AppContext
from sitin.core.states import BotState, EventType, RecordingState, TranscriptionState
from sitin.db import bots


def destroyed_keys(ctx: AppContext, rows: Iterable[Mapping[str, Any]]) -> dict[str, datetime]:
    """When the key was destroyed, for each of these bots not already data_deleted whose key is."""
    candidates = [row["id"] for row in rows if row["state"] != BotState.DATA_DELETED.value]
    return ctx.keys.destroyed_at(candidates) if candidates else {}


def is_shredded(ctx: AppContext, bot: Mapping[str, Any]) -> bool:
    return bool(destroyed_keys(ctx, [bot]))


def as_seen(view: bots.BotView, destroyed_at: datetime | None) -> bots.BotView:
    """The bot as the API shows it: unchanged, or as data-deleted since ``destroyed_at``."""
    if destroyed_at is None:
        return view
    row: dict[str, Any] = {
        **view.row,
        "state": BotState.DATA_DELETED.value,
        "recording_state": RecordingState.NOT_STARTED.value,
        "transcription_state": TranscriptionState.NOT_STARTED.value,
    }
    deleted = bots.BotEvent(EventType.DATA_DELETED.value, None, destroyed_at)
    return bots.BotView(row, [*view.events, deleted])  # type: ignore[arg-type]
