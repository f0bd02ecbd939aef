"""Every kind of error a request can end in, free of the web: ``sitin.api.errors`` has one
handler per kind that renders it in Attendee's wire shape.

- ``FieldErrors``: input invalid field by field → 400 ``{"field": [messages]}``
- ``RuleError``: a business rule refuses the request → 400 ``{"error": message}``
- ``NotFound`` (``BotNotFound``, ``WebhookNotFound``): not in the caller's project → 404
  ``{"error": message}``; another project's object is not found either
- ``StoragePending``: delete_data fenced the bot and deleted its rows, but the blob store failed
  → 503 ``{"error": message}`` with ``Retry-After``
"""

import json
from typing import Any


class FieldErrors(ValueError):
    """Validation errors by field."""

    def __init__(self, errors: dict[str, Any]):
        self.errors = errors
        super().__init__(json.dumps(errors))


class RuleError(ValueError):
    """A business-rule error; its message is the answer."""


class NotFound(LookupError):
    """No such object in the caller's project; ``message`` is the answer."""

    def __init__(self, message: str, object_id: str | None = None):
        self.message, self.object_id = message, object_id
        super().__init__(f"{message}: {object_id}" if object_id else message)


class BotNotFound(NotFound):
    def __init__(self, bot_id: str):
        super().__init__("Bot not found", bot_id)


class WebhookNotFound(NotFound):
    """No project-level subscription with that id in the caller's project."""

    def __init__(self, webhook_id: str):
        super().__init__("Webhook not found", webhook_id)


class StoragePending(RuntimeError):
    """Rows are deleted and the bot is fenced, but its blobs could not be removed yet; the
    deletion completes by itself, a repeat call after ``retry_after`` seconds finishes it now."""

    def __init__(self, message: str, *, retry_after: int):
        self.retry_after = retry_after
        super().__init__(message)
