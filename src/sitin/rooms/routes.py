"""HTTP routes of the local rooms: the room page, its static files and the signaling WebSocket."""

from __future__ import annotations

import html
from importlib import resources

from fastapi import APIRouter, FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from sitin.rooms.registry import RoomRegistry, is_valid_room_name
from sitin.rooms.signaling import serve_participant

router = APIRouter(tags=["rooms"])

STATIC_DIR = resources.files("sitin.rooms") / "static"
STATIC_FILES = {"room.js": "text/javascript", "room.css": "text/css"}
ROOM_NAME_RULE = (
    "Room names are 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
)


def room_registry(app: FastAPI) -> RoomRegistry:
    """The registry of this app's rooms (``api.app.create_app`` makes it from the settings: it
    holds the secret that checks bot passes, so no app serves rooms without one)."""
    return app.state.room_registry


# Room names cannot start with "_", so this path never shadows a room.
@router.get("/rooms/_static/{filename}", include_in_schema=False)
async def room_static(filename: str) -> FileResponse:
    if filename not in STATIC_FILES:
        raise HTTPException(404, f"No static file {filename!r}; files: {sorted(STATIC_FILES)}")
    return FileResponse(str(STATIC_DIR / filename), media_type=STATIC_FILES[filename])


@router.get("/rooms", include_in_schema=False)
async def rooms_index(request: Request, name: str | None = None) -> Response:
    """The rooms in use and a form to open one by name (``?name=standup`` goes to that room)."""
    error = ""
    if name is not None:
        name = name.strip()
        if is_valid_room_name(name):
            return RedirectResponse(f"/rooms/{name}", status_code=303)
        shown = html.escape(repr(name))
        error = f'<p class="error">{shown} is not a room name. {ROOM_NAME_RULE}.</p>'
    rooms = sorted(room_registry(request.app).rooms.values(), key=lambda room: room.name)
    items = "".join(
        f'<li><a href="/rooms/{room.name}">{room.name}</a> '
        f'<span class="muted">{len(room.participants)} in the room</span></li>'
        for room in rooms  # names are validated on join: letters, digits, '.', '_', '-'
    )
    listing = f'<ul class="rooms">{items}</ul>' if items else "<p>No room is in use now.</p>"
    return HTMLResponse(ROOMS_PAGE.format(error=error, listing=listing), 400 if error else 200)


ROOMS_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>sitin rooms</title>
  <link rel="icon" href="/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/site.css">
</head>
<body>
  <h1><a href="/"><img src="/favicon.svg" alt="sitin"></a>Meeting rooms</h1>
  <section>
    <h2>Open a room</h2>
    <p>Any name creates the room when the first person joins; share its address to meet there,
    and give it to a bot as its <code>meeting_url</code>.</p>
    <form action="/rooms" method="get">
      <input name="name" placeholder="standup" maxlength="64" required aria-label="Room name">
      <button type="submit">Open room</button>
    </form>
    {error}
  </section>
  <section>
    <h2>In use now</h2>
    {listing}
  </section>
</body>
</html>
"""


@router.get("/rooms/{name}", include_in_schema=False)
async def room_page(name: str) -> FileResponse:
    if not is_valid_room_name(name):
        raise HTTPException(404, ROOM_NAME_RULE)
    return FileResponse(str(STATIC_DIR / "room.html"), media_type="text/html")


@router.websocket("/rooms/{name}/ws")
async def room_socket(websocket: WebSocket, name: str) -> None:
    await serve_participant(websocket, room_registry(websocket.app), name)
