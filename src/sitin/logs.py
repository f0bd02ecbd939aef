"""Logging for sitin's processes: one line per record on stderr, as text or as JSON.

What is logged is operational: requests (method, route template, status, duration), bot state
changes and failures, worker life. Never an API key, a request or response body, or meeting
content (transcripts, chat, audio); records name bots and participants by id.
"""

import logging
import sys
import time
from typing import Any

import orjson

from sitin.core.states import EventType, RecordedEvent

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
# Structured fields a record may carry (``extra=``); the JSON format puts them in their own keys.
FIELDS = ("method", "path", "status", "duration_ms", "bot_id", "old_state", "new_state", "event")


class _UtcFormatter(logging.Formatter):
    converter = time.gmtime

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


class TextFormatter(_UtcFormatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")


class JsonFormatter(_UtcFormatter):
    """``{"time", "level", "logger", "message", ...fields, "exception"?}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    """Send every record of this process to stderr. ``level`` applies to sitin's own loggers;
    libraries log warnings and up (their debug output can hold URLs and payloads)."""
    if level not in LEVELS or fmt not in FORMATS:
        raise ValueError(f"log level must be one of {LEVELS} and format one of {FORMATS}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("sitin").setLevel(level.upper())
    # uvicorn's own lines (start, stop, errors) at info and up, never debug: at debug its
    # websocket protocol logs every frame, and room frames carry names and chat.
    server_level = max(logging.INFO, logging.getLevelName(level.upper()))
    logging.getLogger("uvicorn.error").setLevel(server_level)


_lifecycle = logging.getLogger("sitin.bots")

# Events that end a bot badly: logged as warnings, a join failure as such.
_FAILURES = {EventType.COULD_NOT_JOIN, EventType.FATAL_ERROR}


def log_bot_event(tx: Any, recorded: RecordedEvent) -> None:
    """An event listener (``sitin.bootstrap``): once the transaction commits, one line per state
    change, a warning per join failure or fatal error (ids, states, event names; never the
    event's metadata)."""
    tx.after_commit(lambda: _log_state_change(recorded))


def _log_state_change(recorded: RecordedEvent) -> None:
    event = recorded.event_type.value + (f"/{recorded.sub_type.value}" if recorded.sub_type else "")
    fields = {
        "bot_id": recorded.bot_id,
        "old_state": recorded.old_state.value,
        "new_state": recorded.new_state.value,
        "event": event,
    }
    if recorded.event_type == EventType.COULD_NOT_JOIN:
        message = "bot %s could not join its meeting: %s"
        _lifecycle.warning(message, recorded.bot_id, event, extra=fields)
    elif recorded.event_type in _FAILURES:
        _lifecycle.warning("bot %s failed: %s", recorded.bot_id, event, extra=fields)
    else:
        _lifecycle.info(
            "bot %s: %s -> %s (%s)",
            recorded.bot_id,
            recorded.old_state.value,
            recorded.new_state.value,
            event,
            extra=fields,
        )
