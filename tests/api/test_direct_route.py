"""``DirectRoute`` (the hottest reads) hands an endpoint the same arguments FastAPI would, runs
the router's checks first, and refuses at build time an endpoint it could not call correctly."""

import pytest
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.testclient import TestClient

from sitin.api import errors
from sitin.api.direct import DirectRoute
from sitin.api.errors import ApiError
from sitin.api.responses import JsonResponse


async def refuse_x(request: Request) -> None:
    if "x" in request.query_params:
        raise ApiError(400, {"x": ["refused"]})


async def echo(
    request: Request,
    object_id: str,
    cursor: str | None = None,
    states: list[str] = Query(default=[]),
):
    body = {"path": request.url.path, "id": object_id, "cursor": cursor, "states": states}
    return JsonResponse(body)


def app_with(route_class) -> FastAPI:
    router = APIRouter(prefix="/items", dependencies=[Depends(refuse_x)])
    router.add_api_route("/{object_id}", echo, methods=["GET"], route_class_override=route_class)
    app = FastAPI()
    errors.install(app)
    app.include_router(router)
    return app


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?cursor=abc",
        "?cursor=a&cursor=b",  # the last value, as FastAPI takes it
        "?cursor=",
        "?states=ended&states=ready",
        "?states=",
        "?other=1",
        "?x=1",  # the router's check answers
    ],
)
def test_answers_as_fastapi_would(query):
    with TestClient(app_with(DirectRoute)) as direct, TestClient(app_with(None)) as ordinary:
        got, expected = direct.get(f"/items/i%20d{query}"), ordinary.get(f"/items/i%20d{query}")
    assert (got.status_code, got.json()) == (expected.status_code, expected.json())


def test_schema_is_the_ordinary_routes():
    assert app_with(DirectRoute).openapi() == app_with(None).openapi()


def test_refuses_what_it_cannot_call():
    def blocking(object_id: str):
        return {}

    async def with_header(object_id: str, request: Request, limit: int = 10):
        return {}

    for endpoint, why in [(blocking, "not async"), (with_header, "limit")]:
        router = APIRouter()
        with pytest.raises(TypeError, match=why):
            router.add_api_route(
                "/{object_id}", endpoint, methods=["GET"], route_class_override=DirectRoute
            )
