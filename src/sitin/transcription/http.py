"""One HTTP round trip to a hosted speech-to-text API, with errors mapped to TranscriptionFailed.

Retryable: timeouts, connection errors, 408, 429 and 5xx. The failure reason carries the
provider's own error message (never the API key, which only travels in headers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from sitin.transcription.base import TranscriptionFailed

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
RETRYABLE_STATUSES = frozenset({408, 425, 429})

ErrorMessageReader = Callable[[Any], str | None]


async def post_for_json(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    *,
    read_error_message: ErrorMessageReader,
    **request: Any,
) -> dict[str, Any]:
    """POST and return the JSON object answered, or raise TranscriptionFailed."""
    try:
        response = await client.post(url, **request)
    except httpx.TimeoutException as error:
        raise TranscriptionFailed(
            f"{provider} did not answer in time ({type(error).__name__})", retryable=True
        ) from error
    except httpx.HTTPError as error:
        raise TranscriptionFailed(
            f"could not reach {provider}: {type(error).__name__}: {error}", retryable=True
        ) from error

    if response.status_code >= 400:
        status = response.status_code
        raise TranscriptionFailed(
            f"{provider} answered HTTP {status}: {_error_message(response, read_error_message)}",
            retryable=status in RETRYABLE_STATUSES or status >= 500,
        )
    try:
        body = response.json()
    except ValueError as error:
        raise TranscriptionFailed(f"{provider} answered with invalid JSON", retryable=False) from (
            error
        )
    if not isinstance(body, dict):
        raise TranscriptionFailed(f"{provider} answered with unexpected JSON", retryable=False)
    return body


def _error_message(response: httpx.Response, read_error_message: ErrorMessageReader) -> str:
    try:
        message = read_error_message(response.json())
    except ValueError:
        message = None
    if message:
        return message
    text = response.text.strip()
    return text[:300] if text else response.reason_phrase or "no message"


def number(value: Any) -> float | None:
    """A JSON number as float, or None when absent or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
