"""Dependencies shared by the routers: the app context, the authenticated project, the JSON body."""

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio
import orjson
from fastapi import Depends, Request
from sqlalchemy import Connection

from sitin.api.errors import ApiError, NotAuthenticated
from sitin.context import AppContext
from sitin.db import api_keys


async def get_context(request: Request) -> AppContext:
    # async: a plain attribute read must not cost a trip through the thread pool.
    return request.app.state.ctx


Context = Annotated[AppContext, Depends(get_context)]

T = TypeVar("T")


class DatabaseReads:
    """Where the read routes run their database work.

    On SQLite, inline on the event loop: a read of a local file takes less than a hop to a
    thread, and one thread never fights others for the GIL (spread over the thread pool, the CPU
    per request of a page of bots grew 5x from 1 to 32 connections). On PostgreSQL, where a read
    waits on the network, on a few threads of their own (the ``api_read_threads`` setting).
    """

    def __init__(self) -> None:
        self._limiter: anyio.CapacityLimiter | None = None  # made on the event loop, when used

    async def run(self, work: Callable[..., T], ctx: AppContext, /, *args: Any) -> T:
        """``work(ctx, *args)``, inline or on the read threads."""
        if ctx.db.is_sqlite:
            return work(ctx, *args)
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(ctx.settings.api_read_threads)
        return await anyio.to_thread.run_sync(work, ctx, *args, limiter=self._limiter)


def hot_read(request: Request) -> tuple[AppContext, DatabaseReads, str]:
    """The context, where reads run and the caller's API key (401 when missing or malformed),
    for the hottest read routes: taken from the request directly, since resolving them as three
    FastAPI dependencies costs more per request than the database read of one bot."""
    state = request.app.state
    return state.ctx, state.reads, key_of(request)


def key_of(request: Request) -> str:
    """The key of the ``Authorization: Token <key>`` header; 401 when missing or malformed."""
    header = request.headers.get("authorization")
    if not header:
        raise NotAuthenticated("Missing Authorization header")
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != "token":
        raise NotAuthenticated(
            "Invalid Authorization header. Should have this format: Token <api_key>"
        )
    return parts[1]


async def api_key(request: Request) -> str:
    # async: pure parsing, so it costs no trip through the thread pool.
    return key_of(request)


ApiKey = Annotated[str, Depends(api_key)]


def project_of_key(conn: Connection, key: str) -> str:
    """The project of an active key; 401 otherwise."""
    project_id = api_keys.project_for_key(conn, key=key)
    if project_id is None:
        raise NotAuthenticated("Invalid or disabled API key")
    return project_id


def authenticated_project(ctx: Context, key: ApiKey) -> str:
    """The caller's project. Hot read routes take ``ApiKey`` instead and call
    ``project_of_key`` on their own connection: one thread-pool trip and one transaction."""
    with ctx.db.read() as conn:
        return project_of_key(conn, key)


ProjectId = Annotated[str, Depends(authenticated_project)]


async def json_body(request: Request, _caller: ProjectId) -> Any:
    """The request's JSON (None when there is no body); 400 naming the problem otherwise.

    Depends on the caller's project, so no route reads a body before its API key is checked;
    ``BodyLimit`` bounds what the read may take."""
    raw = await request.body()
    if not raw.strip():
        return None
    content_type = request.headers.get("content-type", "application/json")
    if "json" not in content_type:
        detail = f'Unsupported media type "{content_type}" in request. Use application/json.'
        raise ApiError(415, {"detail": detail})
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, {"detail": f"JSON parse error - {exc}"}) from None
    problem = _first_problem(body)
    if problem is not None:
        field, message = problem
        raise ApiError(400, {field: [message]})
    return body


# PostgreSQL text and jsonb cannot store U+0000; refuse it up front, with Django's message.
NULL_CHARACTERS = "Null characters are not allowed."
# No field of the API nests deeper than a few levels; deeper JSON is refused before anything
# walks it recursively (validators, the JSON encoder of the database driver).
MAX_JSON_DEPTH = 32
TOO_DEEP = f"JSON nested too deeply: at most {MAX_JSON_DEPTH} levels of objects and arrays."


def _first_problem(body: Any) -> tuple[str, str] | None:
    """(top-level field, message) for the first NUL character or excessive nesting, walking the
    document without recursion; the field is ``non_field_errors`` when the body is no object."""
    top = [(str(k), k, v) for k, v in body.items()] if isinstance(body, dict) else None
    roots = top if top is not None else [("non_field_errors", None, body)]
    for field, key, value in roots:
        if isinstance(key, str) and "\x00" in key:
            return field, NULL_CHARACTERS
        pending = [(value, 1)]
        while pending:
            item, depth = pending.pop()
            if isinstance(item, str):
                if "\x00" in item:
                    return field, NULL_CHARACTERS
            elif isinstance(item, dict | list):
                if depth > MAX_JSON_DEPTH:
                    return field, TOO_DEEP
                if isinstance(item, dict):
                    pending.extend((k, depth) for k in item)
                    pending.extend((v, depth + 1) for v in item.values())
                else:
                    pending.extend((v, depth + 1) for v in item)
    return None


async def reject_null_characters(request: Request) -> None:
    """Path and query parameters holding a NUL character: 400 naming the parameter."""
    if "\x00" in request.scope["path"]:
        raise ApiError(400, {"detail": NULL_CHARACTERS})
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise ApiError(400, {name: [NULL_CHARACTERS]})


JsonBody = Annotated[Any, Depends(json_body)]
