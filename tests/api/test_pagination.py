"""Listing bots: pages of 25 oldest first, next/previous links both ways, every filter."""

import base64
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from sitin.core.states import BOT_STATES
from sitin.core.timefmt import to_wire, utcnow

ROOM_A = "http://127.0.0.1:8000/rooms/alpha"
ROOM_B = "http://127.0.0.1:8000/rooms/beta"


def _list(client, project, url="/api/v1/bots", **params):
    response = client.get(url, params=params or None, headers=project.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _ids(page) -> list[str]:
    return [bot["id"] for bot in page["results"]]


def test_more_than_25_bots_page_both_ways(client, project, new_bot):
    created = [new_bot()["id"] for _ in range(57)]

    first = _list(client, project)
    assert _ids(first) == created[:25]
    assert first["previous"] is None and first["next"].startswith("http://testserver/api/v1/bots?")

    second = _list(client, project, first["next"])
    assert _ids(second) == created[25:50]
    third = _list(client, project, second["next"])
    assert _ids(third) == created[50:]
    assert third["next"] is None

    back_to_second = _list(client, project, third["previous"])
    assert _ids(back_to_second) == created[25:50]
    back_to_first = _list(client, project, back_to_second["previous"])
    assert _ids(back_to_first) == created[:25]
    assert back_to_first["previous"] is None
    assert _ids(_list(client, project, back_to_first["next"])) == created[25:50]


def test_exactly_25_bots_is_one_page(client, project, new_bot):
    created = [new_bot()["id"] for _ in range(25)]
    page = _list(client, project)
    assert _ids(page) == created and page["next"] is None and page["previous"] is None


def test_empty_list(client, project):
    assert _list(client, project) == {"next": None, "previous": None, "results": []}


def test_bot_created_after_a_page_was_read_appears_on_the_next_page(client, project, new_bot):
    created = [new_bot()["id"] for _ in range(26)]
    first = _list(client, project)
    late = new_bot()["id"]
    assert _ids(_list(client, project, first["next"])) == [created[25], late]


def test_combined_filters(client, project, new_bot, advance):
    now = utcnow()
    soon, later, much_later = (to_wire(now + timedelta(days=d)) for d in (1, 10, 100))
    match = new_bot(meeting_url=ROOM_A, join_at=later, deduplication_key="weekly")["id"]
    new_bot(meeting_url=ROOM_A, join_at=later, deduplication_key="other")  # wrong key
    new_bot(meeting_url=ROOM_B, join_at=later, deduplication_key="weekly-b")  # wrong room
    new_bot(meeting_url=ROOM_A, join_at=soon)  # too early
    new_bot(meeting_url=ROOM_A, join_at=much_later)  # too late
    joining = new_bot(meeting_url=ROOM_A, deduplication_key="weekly-joining")["id"]

    window = {
        "join_at_after": to_wire(now + timedelta(days=5)),
        "join_at_before": to_wire(now + timedelta(days=50)),
    }
    page = _list(
        client,
        project,
        meeting_url=ROOM_A,
        states=["scheduled"],
        deduplication_key="weekly",
        **window,
    )
    assert _ids(page) == [match]
    in_window = _list(client, project, meeting_url=ROOM_A, **window)
    assert len(in_window["results"]) == 2
    assert _ids(_list(client, project, deduplication_key="weekly-joining")) == [joining]
    assert _ids(_list(client, project, meeting_url=ROOM_B, states="joining")) == []


def test_join_at_bounds_are_strict(client, project, new_bot):
    join_at = to_wire(utcnow() + timedelta(days=3))
    bot = new_bot(join_at=join_at)["id"]
    assert _ids(_list(client, project, join_at_after=join_at)) == []
    assert _ids(_list(client, project, join_at_before=join_at)) == []
    assert _ids(_list(client, project, join_at_before=to_wire(utcnow() + timedelta(days=4)))) == [
        bot
    ]


def test_meeting_url_filter_matches_the_stored_normalised_url(client, project, new_bot):
    bot = new_bot(meeting_url=" <http://127.0.0.1:8000/rooms/alpha/> ")["id"]
    assert _ids(_list(client, project, meeting_url=ROOM_A)) == [bot]


def test_repeated_states_and_filters_kept_in_links(client, project, new_bot, advance):
    joining = [new_bot()["id"] for _ in range(20)]
    ended = []
    for _ in range(10):
        bot_id = new_bot()["id"]
        advance(bot_id, "ended")
        ended.append(bot_id)
    failed = new_bot()["id"]
    advance(failed, "fatal_error")

    page = _list(client, project, states=["ended", "fatal_error"])
    assert set(_ids(page)) == {*ended, failed} and page["next"] is None

    page = _list(client, project, states=["joining", "ended"])
    assert _ids(page) == sorted_by_creation(joining + ended, joining + ended)[:25]
    query = parse_qs(urlsplit(page["next"]).query)
    assert query["states"] == ["joining", "ended"]
    rest = _list(client, project, page["next"])
    assert len(rest["results"]) == 5 and rest["next"] is None


def sorted_by_creation(ids: list[str], creation_order: list[str]) -> list[str]:
    return sorted(ids, key=creation_order.index)


def test_every_state_name_is_a_valid_filter(client, project):
    for state in BOT_STATES:
        assert _list(client, project, states=state.value)["results"] == [], state


def test_invalid_state(client, project):
    response = client.get("/api/v1/bots?states=ended&states=asleep", headers=project.headers)
    valid = ", ".join(s.value for s in BOT_STATES)
    assert response.status_code == 400
    assert response.json() == {"error": f"Invalid state: asleep. Valid states are: {valid}"}


def test_bad_join_at_bound(client, project):
    # The last one is "+00:00" sent unencoded: the "+" arrives as a space and is refused.
    for value in ["yesterday", "2024-13-01T00:00:00Z", "2024-01-18T12:34:56+00:00"]:
        for name in ("join_at_after", "join_at_before"):
            response = client.get(f"/api/v1/bots?{name}={value}", headers=project.headers)
            assert response.status_code == 400, (name, value)
            assert response.json() == {
                "error": f"Invalid {name} format. Use ISO 8601 format (e.g., 2024-01-18T12:34:56Z)"
            }


def test_bad_cursor(client, project):
    for cursor in [
        "garbage",
        "!!!",
        base64.urlsafe_b64encode(b'{"t": "not a date", "i": "x"}').decode(),
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'{"i": "bot_x"}').decode(),
    ]:
        response = client.get("/api/v1/bots", params={"cursor": cursor}, headers=project.headers)
        assert response.status_code == 404, cursor
        assert response.json() == {"detail": "Invalid cursor"}


def test_cursor_from_one_filter_is_harmless_with_another(client, project, new_bot):
    [new_bot(meeting_url=ROOM_A)["id"] for _ in range(26)]
    first = _list(client, project, meeting_url=ROOM_A)
    cursor = parse_qs(urlsplit(first["next"]).query)["cursor"][0]
    assert _list(client, project, meeting_url=ROOM_B, cursor=cursor)["results"] == []
