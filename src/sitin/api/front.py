"""The front page at ``/`` (what this server is, where its docs, rooms and health are), the
favicon and the pages' stylesheet."""

import html
from importlib import resources
from string import Template

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from sitin import __version__

STATIC = resources.files("sitin.api") / "static"
FRONT_PAGE = Template((STATIC / "front.html").read_text(encoding="utf-8"))

router = APIRouter(include_in_schema=False)


@router.get("/")
async def front_page(request: Request) -> HTMLResponse:
    base_url = request.app.state.ctx.settings.resolved_public_url
    page = FRONT_PAGE.substitute(version=html.escape(__version__), base_url=html.escape(base_url))
    return HTMLResponse(page)


def _static(filename: str, media_type: str) -> FileResponse:
    return FileResponse(
        str(STATIC / filename),
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/favicon.ico")
async def favicon_ico() -> FileResponse:
    return _static("favicon.ico", "image/x-icon")


@router.get("/favicon.svg")
async def favicon_svg() -> FileResponse:
    return _static("favicon.svg", "image/svg+xml")


@router.get("/site.css")
async def stylesheet() -> FileResponse:
    return _static("site.css", "text/css")
