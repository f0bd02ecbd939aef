"""Schema-driven fuzzing with Attendee's published schema, its base URL pointed at a live sitin.

What a client generated from Attendee's ``attendee-openapi.yml`` may send, sitin answers without a
5xx, and its responses match what that file declares (as the API reference corrects it:
support/attendee_openapi.py). The server is real (uvicorn on 127.0.0.1, PostgreSQL, whose text
columns refuse NUL bytes); requests go over HTTP. The routes sitin does not implement answer 501
by design (README "Differences from Attendee"): a 501 is allowed there and nowhere else.
Bounded: a few examples per operation.
"""

import copy
import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from sitin.api.unsupported import UNSUPPORTED_ROUTES
from sitin.core.states import EventType
from sitin.db.bot_events import record_event
from support.attendee_openapi import corrected_document
from support.live import start_live

MAX_EXAMPLES_PER_OPERATION = 6
NOT_IMPLEMENTED = {(route.method, f"/api/v1{route.path}") for route in UNSUPPORTED_ROUTES}

schema = schemathesis.openapi.from_dict(copy.deepcopy(corrected_document()))


class AttendeeTarget:
    """A live sitin on PostgreSQL with three bots of the fuzzing project (joining, joined,
    recording): half the generated cases address one of them so the handlers' deeper paths run."""

    def __init__(self, live):
        self.live = live
        self.key = live.http.headers["Authorization"]
        self.bot_ids = []
        for index in range(3):
            bot = live.create_bot(meeting_url=live.room_url("fuzz"), bot_name=f"Fuzz {index}")
            for event in [EventType.JOINED_MEETING, EventType.RECORDING_PERMISSION_GRANTED][:index]:
                with live.ctx.db.write() as tx:
                    record_event(tx, bot_id=bot["id"], event=event)
            self.bot_ids.append(bot["id"])
        self._next_bot = itertools.cycle(self.bot_ids)
        self._choices = itertools.cycle(range(4))

    def next_choice(self) -> int:
        return next(self._choices)

    def next_bot(self) -> str:
        return next(self._next_bot)


@pytest.fixture(scope="module")
def attendee_target(tmp_path_factory, module_postgres_url):
    # No worker: the bots created here stay queued (the fuzz is about the API, not meetings).
    with start_live(
        tmp_path_factory.mktemp("fuzz-attendee"), run_bots=False, database_url=module_postgres_url
    ) as live:
        yield AttendeeTarget(live)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_attendee_clients_get_no_server_error(case, attendee_target):
    choice = attendee_target.next_choice()
    if "object_id" in (case.path_parameters or {}) and choice % 2 == 0:
        case.path_parameters["object_id"] = attendee_target.next_bot()
    headers = case.headers or {}
    if choice != 3:  # one case in four keeps the generated Authorization header
        headers["Authorization"] = attendee_target.key
    case.headers = headers
    if case.path == "/api/v1/bots" and isinstance(case.body, dict) and choice < 2:
        case.body["meeting_url"] = attendee_target.live.room_url("fuzz")
    if (case.method.upper(), case.path) in NOT_IMPLEMENTED:
        response = case.call(base_url=attendee_target.live.base_url)
        assert response.status_code in (401, 404, 501), response.text
        return
    case.call_and_validate(
        base_url=attendee_target.live.base_url,
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
