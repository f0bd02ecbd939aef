"""The API docs pages, Swagger UI at /api/docs and ReDoc at /api/redoc, working with no network.

Their JavaScript and CSS come from the ``fastapi-offline`` package, which ships pinned builds of
both; sitin serves them itself, so an air-gapped server shows its docs.
"""

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

SCHEMA_URL = "/api/schema"
ASSETS_URL = "/api/docs/assets"
ASSETS = resources.files("fastapi_offline") / "static"
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
}
# Assets never change within one installed version: let browsers keep them for a day.
ASSET_CACHE = {"Cache-Control": "public, max-age=86400"}

router = APIRouter(include_in_schema=False)


@router.get("/api/docs")
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=SCHEMA_URL,
        title="sitin API",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url="/favicon.ico",
    )


@router.get("/api/redoc")
async def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url=SCHEMA_URL,
        title="sitin API",
        redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url="/favicon.ico",
        with_google_fonts=False,
    )


@router.get("/api/docs/assets/{filename}")
async def asset(filename: str) -> FileResponse:
    if filename not in ASSET_TYPES:
        raise HTTPException(404, f"No docs asset {filename!r}; assets: {sorted(ASSET_TYPES)}")
    return FileResponse(
        str(ASSETS / filename), media_type=ASSET_TYPES[filename], headers=ASSET_CACHE
    )
