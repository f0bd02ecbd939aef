"""Routes of Attendee's API that sitin does not implement: 501 with why and what to use instead,
so a client written for Attendee learns it hit a missing feature, not a wrong id (a 404).

The caller's key is checked first, as on every other route; the bot id is not looked up, since the
answer is the same for every bot.
"""

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter, Depends

from sitin.api import schemas
from sitin.api.deps import authenticated_project
from sitin.api.responses import JsonResponse


@dataclass(frozen=True)
class Unsupported:
    method: str
    path: str  # under /api/v1
    feature: str  # what the route does, as the error message names it
    why: str  # why not, and what to use instead


NO_VIDEO = "bots of this server carry audio only (no camera, screen or video output)"
UNSUPPORTED_ROUTES = [
    Unsupported(
        "POST",
        "/bots/{object_id}/change_gallery_view_page",
        "Changing the gallery view page",
        f"it exists for Zoom's video gallery; {NO_VIDEO}",
    ),
    Unsupported(
        "POST",
        "/bots/{object_id}/admit_from_waiting_room",
        "Admitting from the waiting room",
        "the meetings this server joins have no waiting room",
    ),
    Unsupported(
        "POST",
        "/bots/{object_id}/transcript",
        "Async transcription after the meeting",
        "every bot is transcribed while the meeting runs; choose the provider with "
        "transcription_settings when you create the bot",
    ),
    Unsupported(
        "DELETE",
        "/bots/{object_id}/transcript",
        "Deleting a transcript on its own",
        "use POST /api/v1/bots/{id}/delete_data, which deletes everything the bot captured, "
        "verifiably",
    ),
    Unsupported(
        "PATCH",
        "/bots/{object_id}/transcription_settings",
        "Changing the closed-caption language",
        "this server transcribes audio itself and reads no meeting captions",
    ),
    Unsupported(
        "PATCH",
        "/bots/{object_id}/voice_agent_settings",
        "Voice agent settings",
        "bots of this server run no voice agent",
    ),
    *(
        Unsupported(
            method,
            path,
            "Calendar integration",
            "schedule a bot with join_at when you create it",
        )
        for method, path in [
            ("GET", "/calendar_events"),
            ("GET", "/calendars"),
            ("POST", "/calendars"),
            ("GET", "/calendars/{object_id}"),
            ("PATCH", "/calendars/{object_id}"),
            ("DELETE", "/calendars/{object_id}"),
        ]
    ),
    *(
        Unsupported(
            method,
            path,
            "Zoom OAuth connections",
            "this server does not join Zoom meetings",
        )
        for method, path in [
            ("GET", "/zoom_oauth_connections"),
            ("POST", "/zoom_oauth_connections"),
            ("GET", "/zoom_oauth_connections/{object_id}"),
            ("DELETE", "/zoom_oauth_connections/{object_id}"),
        ]
    ),
]


def message(route: Unsupported) -> str:
    where = f"{route.method} /api/v1{route.path}"
    return f"{route.feature} ({where}) is not supported by this server: {route.why}."


def _endpoint(route: Unsupported) -> Callable[..., JsonResponse]:
    body = {"error": message(route)}

    async def not_implemented(_project_id: str = Depends(authenticated_project)) -> JsonResponse:
        return JsonResponse(body, status_code=501)

    # The id is declared (so the schema describes the path) but never looked up.
    async def not_implemented_for_object(
        object_id: str, _project_id: str = Depends(authenticated_project)
    ) -> JsonResponse:
        return JsonResponse(body, status_code=501)

    return not_implemented_for_object if "{object_id}" in route.path else not_implemented


router = APIRouter(prefix="/api/v1", tags=["Not supported by this server"])
for _route in UNSUPPORTED_ROUTES:
    router.add_api_route(
        _route.path,
        _endpoint(_route),
        methods=[_route.method],
        status_code=501,
        response_model=None,
        responses={501: {"model": schemas.Error, "description": _route.why}},
        summary=f"{_route.feature}: not supported",
        operation_id=f"unsupported_{_route.method.lower()}{_route.path.replace('/', '_')}",
    )
