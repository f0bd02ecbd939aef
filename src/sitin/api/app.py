"""The FastAPI application: routers, error handlers, schema at /api/schema, docs at /api/docs,
the front page at /."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from sitin import __version__
from sitin.api import (
    blobs,
    bots,
    docs,
    errors,
    front,
    health,
    metrics,
    schemas,
    unsupported,
    webhooks,
)
from sitin.api.access_log import AccessLog
from sitin.api.deps import DatabaseReads
from sitin.api.limits import BodyLimit
from sitin.config import Settings
from sitin.context import AppContext
from sitin.rooms import forwarding as rooms_forwarding
from sitin.rooms.registry import RoomRegistry
from sitin.rooms.routes import router as rooms_router


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn options enforcing the settings' limits while reading: a WebSocket message over the
    limit is refused from its frame header (the body limit is the app's own, see BodyLimit)."""
    return {"ws_max_size": settings.max_ws_message_bytes}


def create_app(ctx: AppContext, *, rooms_hub: str | None = None) -> FastAPI:
    """The application; with ``rooms_hub`` (the unix socket of the process that holds the
    rooms, when ``sitin serve`` runs several API processes) room connections go there."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Blocking routes share this many threads; the database pool is sized to it.
        if app.state.ctx is not None:  # None: an app made only for its schema
            threads = app.state.ctx.settings.api_threads
            anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="sitin",
        version=__version__,
        description="Self-hosted meeting bots, wire-compatible with Attendee's Bots API. "
        "Authenticate with `Authorization: Token <api key>`.",
        openapi_url=docs.SCHEMA_URL,
        docs_url=None,  # served by sitin.api.docs from bundled assets, never from a CDN
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.reads = DatabaseReads()
    app.add_middleware(BodyLimit)
    app.add_middleware(AccessLog)
    errors.install(app)
    app.include_router(bots.router)
    app.include_router(blobs.router)
    app.include_router(webhooks.router)
    app.include_router(unsupported.router)
    if rooms_hub is not None:  # before the rooms' own routes, so these win
        app.state.rooms_hub = rooms_hub
        app.include_router(rooms_forwarding.router)
    app.include_router(rooms_router)
    if ctx is not None:  # (None: an app built only for its schema)
        app.state.room_registry = RoomRegistry(
            ctx.room_passes, ctx.settings.room_limits, ctx.settings.room_rules
        )
    app.include_router(docs.router)
    app.include_router(front.router)
    app.include_router(health.router)
    app.include_router(metrics.router)

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    components.update(operation.pop(schemas.BODY_COMPONENTS, {}))
            schema["components"]["securitySchemes"] = {
                "TokenAuth": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`Token <api key>`",
                }
            }
            schema["security"] = [{"TokenAuth": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app
