"""Dependencies shared by the routers: the app context, the authenticated project, the JSON body."""

from typing import Annotated, Any

import orjson
from fastapi import Depends, Request

from sitin.api.errors import ApiError, NotAuthenticated
from sitin.context import AppContext
from sitin.db import api_keys


def get_context(request: Request) -> AppContext:
    return request.app.state.ctx


Context = Annotated[AppContext, Depends(get_context)]


def authenticated_project(request: Request) -> str:
    """The project id of the ``Authorization: Token <key>`` header; 401 otherwise."""
    header = request.headers.get("authorization")
    if not header:
        raise NotAuthenticated("Missing Authorization header")
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != "token":
        raise NotAuthenticated(
            "Invalid Authorization header. Should have this format: Token <api_key>"
        )
    ctx: AppContext = request.app.state.ctx
    with ctx.db.read() as conn:
        project_id = api_keys.project_for_key(conn, key=parts[1])
    if project_id is None:
        raise NotAuthenticated("Invalid or disabled API key")
    return project_id


ProjectId = Annotated[str, Depends(authenticated_project)]


async def json_body(request: Request) -> Any:
    """The request's JSON (None when there is no body); 400 naming the problem otherwise."""
    raw = await request.body()
    if not raw.strip():
        return None
    content_type = request.headers.get("content-type", "application/json")
    if "json" not in content_type:
        detail = f'Unsupported media type "{content_type}" in request. Use application/json.'
        raise ApiError(415, {"detail": detail})
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, {"detail": f"JSON parse error - {exc}"}) from None


JsonBody = Annotated[Any, Depends(json_body)]
