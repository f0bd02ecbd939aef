"""The FastAPI application: routers, error handlers, schema at /api/schema, docs at /api/docs."""

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from sitin import __version__
from sitin.api import blobs, bots, errors, schemas, webhooks
from sitin.context import AppContext
from sitin.rooms.routes import router as rooms_router


def create_app(ctx: AppContext) -> FastAPI:
    app = FastAPI(
        title="sitin",
        version=__version__,
        description="Self-hosted meeting bots, wire-compatible with Attendee's Bots API. "
        "Authenticate with `Authorization: Token <api key>`.",
        openapi_url="/api/schema",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    errors.install(app)
    app.include_router(bots.router)
    app.include_router(blobs.router)
    app.include_router(webhooks.router)
    app.include_router(rooms_router)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                schemas.BODY_COMPONENTS
            )
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
