"""The request body limit (``SITIN_MAX_BODY_BYTES``), enforced while the body is read.

A body whose Content-Length is over the limit is answered 413 before anything of it is read; a
body without one (chunked) is counted as the route reads it, and the read that passes the limit
fails with 413, so the rest is never read. Routes read bodies only after the API key is checked
(``deps.json_body`` depends on the caller's project), so an unauthenticated request never costs a
body read. Starlette's own limiter answers in plain text without saying what the limit is.

``POST /api/v1/bots/{id}/output_audio`` carries a base64 audio file of up to Attendee's 10 MB, so
its limit is at least what such a body needs, whatever the setting.
"""

import re

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sitin.api.errors import ApiError
from sitin.api.responses import JsonResponse
from sitin.core.output_media import MAX_AUDIO_BYTES

SETTING = "SITIN_MAX_BODY_BYTES"
OUTPUT_AUDIO_PATH = re.compile(r"/api/v1/bots/[^/]+/output_audio")
# the 10 MB file in base64, and room for the JSON around it
OUTPUT_AUDIO_BODY_BYTES = (MAX_AUDIO_BYTES + 2) // 3 * 4 + 4096


def body_limit(path: str, setting: int) -> int:
    """The most bytes a request body to ``path`` may have."""
    if OUTPUT_AUDIO_PATH.fullmatch(path):
        return max(setting, OUTPUT_AUDIO_BODY_BYTES)
    return setting


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, {"detail": too_large_message(limit)})


def too_large_message(limit: int) -> str:
    return (
        f"Request body too large: at most {limit} bytes are accepted "
        f"(the server setting {SETTING})."
    )


class BodyLimit:
    """The limit is the serving context's ``max_body_bytes``, read per request (as routes read
    ``app.state.ctx``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctx = scope["app"].state.ctx
        if ctx is None:  # an app built only for its schema reads no bodies
            await self.app(scope, receive, send)
            return
        max_bytes = body_limit(scope["path"], ctx.settings.max_body_bytes)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            response = JsonResponse(
                {"detail": too_large_message(max_bytes)},
                status_code=413,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge(max_bytes)  # answered by the ApiError handler
            return message

        await self.app(scope, counted, send)
