"""HTTP routes of the local rooms: the room page, its static files and the signaling WebSocket."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, FastAPI, HTTPException, WebSocket
from fastapi.responses import FileResponse

from sitin.rooms.registry import RoomRegistry, is_valid_room_name
from sitin.rooms.signaling import serve_participant

router = APIRouter(tags=["rooms"])

STATIC_DIR = resources.files("sitin.rooms") / "static"
STATIC_FILES = {"room.js": "text/javascript", "room.css": "text/css"}


def room_registry(app: FastAPI) -> RoomRegistry:
    """The registry of this app's rooms, created on first use."""
    registry = getattr(app.state, "room_registry", None)
    if registry is None:
        registry = app.state.room_registry = RoomRegistry()
    return registry


# Room names cannot start with "_", so this path never shadows a room.
@router.get("/rooms/_static/{filename}", include_in_schema=False)
async def room_static(filename: str) -> FileResponse:
    if filename not in STATIC_FILES:
        raise HTTPException(404, f"No static file {filename!r}; files: {sorted(STATIC_FILES)}")
    return FileResponse(str(STATIC_DIR / filename), media_type=STATIC_FILES[filename])


@router.get("/rooms/{name}", include_in_schema=False)
async def room_page(name: str) -> FileResponse:
    if not is_valid_room_name(name):
        raise HTTPException(
            404,
            "Room names are 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return FileResponse(str(STATIC_DIR / "room.html"), media_type="text/html")


@router.websocket("/rooms/{name}/ws")
async def room_socket(websocket: WebSocket, name: str) -> None:
    await serve_participant(websocket, room_registry(websocket.app), name)
