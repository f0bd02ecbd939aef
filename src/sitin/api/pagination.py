"""Opaque cursors and ``{next, previous, results}`` pages (25 per page, oldest first)."""

import base64
import binascii
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import Request

from sitin.api.errors import ApiError
from sitin.core.timefmt import parse_wire, to_wire
from sitin.db.pagination import Page, Position

PAGE_SIZE = 25


def decode_cursor(cursor: str | None) -> Position | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded))
        return Position(parse_wire(data["t"]), str(data["i"]), bool(data.get("r", False)))
    except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise ApiError(404, {"detail": "Invalid cursor"}) from None


def encode_cursor(position: Position) -> str:
    data = {"t": to_wire(position.created_at), "i": position.id}
    if position.reverse:
        data["r"] = 1
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


def _link(request: Request, position: Position | None) -> str | None:
    if position is None:
        return None
    return str(request.url.include_query_params(cursor=encode_cursor(position)))


def render_page(
    request: Request, page: Page, render: Callable[[Any], dict[str, Any]], results=None
) -> dict[str, Any]:
    return {
        "next": _link(request, page.next),
        "previous": _link(request, page.previous),
        "results": results if results is not None else [render(row) for row in page.rows],
    }
