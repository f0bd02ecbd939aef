"""``Authorization: Token <key>``: every failure is a 401 with Attendee's detail and
``WWW-Authenticate: Token``; on every /api/v1 route."""

import pytest

from sitin.db import api_keys
from sitin.db.tables import api_keys as api_keys_table

MISSING = "Missing Authorization header"
MALFORMED = "Invalid Authorization header. Should have this format: Token <api_key>"
UNKNOWN = "Invalid or disabled API key"


def _assert_401(response, detail: str) -> None:
    assert response.status_code == 401
    assert response.json() == {"detail": detail}
    assert response.headers["www-authenticate"] == "Token"


def test_missing_header(client):
    _assert_401(client.get("/api/v1/bots"), MISSING)


def test_empty_header_counts_as_missing(client):
    _assert_401(client.get("/api/v1/bots", headers={"Authorization": ""}), MISSING)


@pytest.mark.parametrize(
    "header",
    ["Bearer {key}", "Token", "Token {key} extra", "{key}", "Basic dXNlcjpwYXNz"],
    ids=["wrong-scheme", "one-part", "three-parts", "key-alone", "basic-auth"],
)
def test_malformed_header(client, project, header):
    response = client.get("/api/v1/bots", headers={"Authorization": header.format(key=project.key)})
    _assert_401(response, MALFORMED)


def test_unknown_key(client, project):
    _assert_401(client.get("/api/v1/bots", headers={"Authorization": "Token " + "x" * 32}), UNKNOWN)


def test_revoked_key_is_refused_and_other_keys_still_work(ctx, client, project):
    with ctx.db.write() as tx:
        second_id, second_key = api_keys.create(tx.conn, project_id=project.id)
    assert client.get("/api/v1/bots", headers={"Authorization": f"Token {second_key}"}).is_success
    with ctx.db.write() as tx:
        assert api_keys.revoke(tx.conn, key_id=second_id)
    _assert_401(
        client.get("/api/v1/bots", headers={"Authorization": f"Token {second_key}"}), UNKNOWN
    )
    assert client.get("/api/v1/bots", headers=project.headers).status_code == 200


@pytest.mark.parametrize("scheme", ["token", "TOKEN", "ToKeN"])
def test_scheme_is_case_insensitive_and_extra_whitespace_is_fine(client, project, scheme):
    headers = {"Authorization": f"  {scheme}   {project.key} "}
    assert client.get("/api/v1/bots", headers=headers).status_code == 200


def test_only_the_hash_of_a_key_is_stored(ctx, project):
    with ctx.db.read() as conn:
        stored = [row.key_hash for row in conn.execute(api_keys_table.select())]
    assert api_keys.hash_key(project.key) in stored
    assert all(project.key not in value for value in stored)
    assert len(project.key) == 32 and project.key.isalnum()


def _api_routes(client) -> list[tuple[str, str]]:
    """Every operation the served schema documents under /api/v1."""
    paths = client.get("/api/schema").json()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/api/v1/")
        for method in operations
    ]


def test_every_api_route_needs_a_key(client):
    routes = _api_routes(client)
    assert len(routes) >= 14
    for method, path in routes:
        url = path.replace("{object_id}", "bot_AAAAAAAAAAAAAAAA")
        _assert_401(client.request(method, url, json={}), MISSING)
        response = client.request(method, url, json={}, headers={"Authorization": "Token nope"})
        _assert_401(response, UNKNOWN)


def test_schema_and_docs_need_no_key(client):
    assert client.get("/api/schema").status_code == 200
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
