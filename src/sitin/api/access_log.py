"""One log line per HTTP request: method, route template, status, duration.

The template (``/api/v1/bots/{object_id}``) is logged, never the path itself, nor the query,
headers or bodies: ids, keys and meeting content stay out of the log. A path that matches no
route is logged as ``(no route)``.
"""

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("sitin.access")
NO_ROUTE = "(no route)"


class AccessLog:
    """ASGI middleware; costs nothing beyond a clock read when the access log is off."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped the app

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or NO_ROUTE
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            log.info(
                "%s %s %d %.2fms",
                scope["method"],
                template,
                status,
                duration_ms,
                extra={
                    "method": scope["method"],
                    "path": template,
                    "status": status,
                    "duration_ms": duration_ms,
                },
            )
