"""Every route of Attendee's API that sitin lacks answers 501 naming the feature, why, and what to
use instead; never a 404 that looks like a wrong id."""

import re
from pathlib import Path

import pytest

from sitin.api.unsupported import UNSUPPORTED_ROUTES

README = Path(__file__).resolve().parents[2] / "README.md"
ROUTE_IDS = [f"{r.method} {r.path}" for r in UNSUPPORTED_ROUTES]


@pytest.mark.parametrize("route", UNSUPPORTED_ROUTES, ids=ROUTE_IDS)
def test_unsupported_route_answers_501_with_the_reason(client, project, new_bot, route):
    bot_id = new_bot()["id"]
    path = "/api/v1" + route.path.replace("{object_id}", bot_id)
    response = client.request(route.method, path, headers=project.headers, json={})
    assert response.status_code == 501, response.text
    error = response.json()["error"]
    assert "is not supported by this server" in error
    assert route.path.split("{")[0] in error and route.why in error
    # Without a key it is refused like every other route.
    assert client.request(route.method, path).status_code == 401


def test_implemented_routes_next_to_unsupported_ones_still_work(client, project, new_bot):
    bot_id = new_bot()["id"]
    transcript = client.get(f"/api/v1/bots/{bot_id}/transcript", headers=project.headers)
    assert transcript.status_code == 200
    unknown = client.post(f"/api/v1/bots/{bot_id}/no_such_thing", headers=project.headers)
    assert unknown.status_code == 404


def test_readme_lists_every_unsupported_route():
    differences = README.read_text().split("## Differences from Attendee", 1)[1]
    for route in UNSUPPORTED_ROUTES:
        shown = route.path.replace("{object_id}", "{id}")
        assert re.search(rf"`{route.method} [^`]*{re.escape(shown)}`", differences), shown
