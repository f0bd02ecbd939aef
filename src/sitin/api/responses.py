"""A JSON response rendered with orjson (fast, and writes datetimes itself)."""

from typing import Any

import orjson
from starlette.responses import Response

# Datetimes as sitin's wire format (core.timefmt.to_wire): ISO-8601 UTC ending in "Z",
# microseconds only when non-zero; naive ones are UTC (as SQLite returns them), and PostgreSQL
# sessions run in UTC (db.engine), so aware ones are UTC too.
WIRE_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=WIRE_OPTIONS)
