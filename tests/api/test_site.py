"""What a person opening the server in a browser gets, with no network: the front page, the API
docs and their assets, the rooms index, the favicon; and /health for load balancers."""

import re
import shutil
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from sitin.api.app import create_app
from sitin.bootstrap import build_context
from support.settings import make_settings


class Links(HTMLParser):
    """Every URL a page makes the browser load or offers to follow."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src", "action") and value:
                self.urls.append(value)


def urls_in(page: str) -> list[str]:
    parser = Links()
    parser.feed(page)
    # Swagger UI and ReDoc pages load their assets and the schema from script text too.
    return parser.urls + re.findall(r"""(?:url|spec-url)\s*[:=]\s*['"]([^'"]+)['"]""", page)


@pytest.mark.parametrize("page", ["/api/docs", "/api/redoc"])
def test_docs_pages_load_everything_from_this_server(client, page):
    response = client.get(page)
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    assert "//" not in "".join(re.findall(r"""(?:src|href)=["']([^"']+)""", response.text))
    loaded = urls_in(response.text)
    assert "/api/schema" in loaded
    assets = [url for url in loaded if url.startswith("/api/docs/assets/")]
    assert assets, response.text
    for url in [*assets, "/favicon.ico"]:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
    kinds = {client.get(url).headers["content-type"].split(";")[0] for url in assets}
    assert "text/javascript" in kinds
    # The schema the pages render is there, and lists the Bots API.
    assert "/api/v1/bots" in client.get("/api/schema").json()["paths"]


def test_only_the_bundled_docs_assets_are_served(client):
    for path in ("/api/docs/assets/..%2F..%2F__init__.py", "/api/docs/assets/nope.js"):
        assert client.get(path).status_code == 404


def test_front_page_says_what_this_is_and_every_link_works(client):
    response = client.get("/")
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    assert "sitin" in response.text and "Attendee" in response.text
    links = urls_in(response.text)
    for expected in ("/api/docs", "/rooms", "/health", "/favicon.svg"):
        assert expected in links
    for url in links:
        assert client.get(url).status_code == 200, url
    # The curl example uses this server's own address.
    assert "http://127.0.0.1:8000/api/v1/bots" in response.text


def test_favicon_is_an_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # the ICO header


def test_rooms_index_opens_a_room_by_name(client):
    page = client.get("/rooms")
    assert page.status_code == 200 and "No room is in use now" in page.text
    opened = client.get("/rooms", params={"name": " standup "}, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/rooms/standup"
    refused = client.get("/rooms", params={"name": "<script>"})
    assert refused.status_code == 400
    assert "is not a room name" in refused.text and "<script>" not in refused.text


def test_rooms_index_lists_rooms_in_use(client):
    with client.websocket_connect("/rooms/standup/ws") as socket:
        socket.send_json({"type": "join", "name": "Ada"})
        socket.receive_json()
        page = client.get("/rooms")
        assert '<a href="/rooms/standup">standup</a>' in page.text
        assert "1 in the room" in page.text


@pytest.mark.parametrize("path", ["/health", "/health/"])
def test_health_answers_ok_when_database_and_blobs_answer(client, path):
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "key_store": "ok",
        "blob_store": "ok",
    }


def test_health_names_the_blob_store_when_it_fails(client, ctx):
    shutil.rmtree(ctx.settings.data_dir / "blobs")
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["blob_store"] and body["database"] == "ok"
    assert str(ctx.settings.data_dir) not in response.text  # details go to the log only


def test_health_names_the_key_store_when_it_fails(tmp_path, sqlite_url):
    unreachable = "postgresql+psycopg://sitin:sitin@127.0.0.1:1/nothing"
    settings = make_settings(tmp_path, sqlite_url).model_copy(update={"keystore_url": unreachable})
    ctx = build_context(settings, migrate=False)
    try:
        with TestClient(create_app(ctx)) as client:
            response = client.get("/health")
    finally:
        ctx.close()
    assert response.status_code == 503
    assert response.json()["failed"] == ["key_store"]
    assert response.json()["database"] == "ok" and response.json()["blob_store"] == "ok"


def test_health_names_the_database_when_it_fails(tmp_path):
    unreachable = "postgresql+psycopg://sitin:sitin@127.0.0.1:1/nothing"
    ctx = build_context(make_settings(tmp_path, unreachable), migrate=False)
    try:
        with TestClient(create_app(ctx)) as client:
            response = client.get("/health/")
    finally:
        ctx.close()
    assert response.status_code == 503
    assert response.json()["failed"] == ["database"]
    assert response.json()["blob_store"] == "ok"
