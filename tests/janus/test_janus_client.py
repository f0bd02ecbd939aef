"""The Janus WebSocket client against a real Janus (Debian's package, in the test's namespace):
sessions and handles, synchronous and asynchronous plugin replies, events routed to the handle
they concern, Janus's and the VideoRoom's refusals, and a lost connection."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from sitin.outbound import OutboundGuard, parse_host_rules
from sitin.runtime.adapters.janus.client import (
    JanusError,
    JanusSession,
    JanusUnreachable,
    Message,
    event_data,
)
from sitin.testing.janus import ADMIN_KEY, JanusServer

VIDEOROOM = "janus.plugin.videoroom"
EVENT_TIMEOUT_S = 10.0
_rooms = itertools.count(2001)
GUARD = OutboundGuard(listed=parse_host_rules("127.0.0.1"))  # the Janus in the namespace


class Inbox:
    """A handle's listener that keeps what it was sent, for the test to wait on."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._arrived = asyncio.Event()

    def __call__(self, message: Message) -> None:
        self.messages.append(message)
        self._arrived.set()

    async def wait_for(self, wanted, what: str) -> Message:
        async def first() -> Message:
            while True:
                for message in self.messages:
                    if wanted(message):
                        return message
                self._arrived.clear()
                await self._arrived.wait()

        try:
            return await asyncio.wait_for(first(), EVENT_TIMEOUT_S)
        except TimeoutError:
            raise AssertionError(f"no {what} among {self.messages}") from None


def joining(display: str):
    def matches(message: Message) -> bool:
        joined = event_data(message).get("joining")
        return isinstance(joined, dict) and joined.get("display") == display

    return matches


async def create_room(session: JanusSession, **options: Any) -> int:
    room = next(_rooms)
    handle = await session.attach(VIDEOROOM, lambda message: None)
    created, _ = await handle.request(
        {"request": "create", "room": room, "admin_key": ADMIN_KEY, **options}
    )
    assert created["videoroom"] == "created" and created["room"] == room
    await handle.detach()
    return room


async def join(session: JanusSession, room: int, display: str, inbox=None, **extra: Any):
    handle = await session.attach(VIDEOROOM, inbox or (lambda message: None))
    joined, jsep = await handle.request(
        {"request": "join", "ptype": "publisher", "room": room, "display": display, **extra}
    )
    return handle, joined, jsep


def test_create_join_and_list_participants(janus: JanusServer) -> None:
    async def scenario() -> None:
        alice_session = await JanusSession.open(janus.ws_url, guard=GUARD)
        bob_session = await JanusSession.open(janus.ws_url, guard=GUARD)
        try:
            room = await create_room(alice_session, notify_joining=True)
            alice_inbox = Inbox()
            alice, joined, jsep = await join(alice_session, room, "Alice", alice_inbox)
            # the asynchronous reply (an ack first, then the event with the same transaction)
            assert joined["videoroom"] == "joined" and joined["room"] == room
            assert isinstance(joined["id"], int) and joined["publishers"] == []
            assert jsep is None
            _, bob_joined, _ = await join(bob_session, room, "Bob")

            event = await alice_inbox.wait_for(joining("Bob"), "joining event for Bob")
            assert event_data(event)["joining"]["id"] == bob_joined["id"]

            # a synchronous reply (plugin data in the success itself)
            listing, _ = await alice.request({"request": "listparticipants", "room": room})
            names = {p["id"]: p["display"] for p in listing["participants"]}
            assert names == {joined["id"]: "Alice", bob_joined["id"]: "Bob"}

            await bob_session.close()
            left = await alice_inbox.wait_for(
                lambda m: event_data(m).get("leaving") == bob_joined["id"], "Bob leaving"
            )
            assert left["sender"] == alice.handle_id
        finally:
            await asyncio.gather(alice_session.close(), bob_session.close())

    asyncio.run(scenario())


def test_events_go_to_the_handle_they_concern(janus: JanusServer) -> None:
    """Two handles of one session in two rooms: each room's events reach only its handle."""

    async def scenario() -> None:
        bot = await JanusSession.open(janus.ws_url, guard=GUARD)
        guest = await JanusSession.open(janus.ws_url, guard=GUARD)
        try:
            first_room = await create_room(bot, notify_joining=True)
            second_room = await create_room(bot, notify_joining=True)
            first_inbox, second_inbox = Inbox(), Inbox()
            await join(bot, first_room, "Bot", first_inbox)
            await join(bot, second_room, "Bot", second_inbox)

            await join(guest, second_room, "Carol")
            await second_inbox.wait_for(joining("Carol"), "Carol joining the second room")
            await join(guest, first_room, "Dave")
            await first_inbox.wait_for(joining("Dave"), "Dave joining the first room")

            assert not any(joining("Dave")(m) for m in second_inbox.messages)
            assert not any(joining("Carol")(m) for m in first_inbox.messages)

            await guest.attach(VIDEOROOM, lambda m: None)  # a request after events still works
            destroy = await bot.attach(VIDEOROOM, lambda m: None)
            await destroy.request({"request": "destroy", "room": second_room})
            await second_inbox.wait_for(
                lambda m: event_data(m).get("videoroom") == "destroyed", "room destroyed"
            )
            assert not any(
                event_data(m).get("videoroom") == "destroyed" for m in first_inbox.messages
            )
        finally:
            await asyncio.gather(bot.close(), guest.close())

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("options", "join_extra", "code"),
    [
        ({}, {"room_offset": 1000}, 426),  # no such room
        ({"pin": "right"}, {"pin": "wrong"}, 433),  # unauthorized
        ({"pin": "right"}, {}, 429),  # a pin is needed: "missing mandatory element"
    ],
    ids=["no-such-room", "wrong-pin", "missing-pin"],
)
def test_videoroom_refusals_carry_its_error_codes(
    janus: JanusServer, options: dict, join_extra: dict, code: int
) -> None:
    async def scenario() -> None:
        session = await JanusSession.open(janus.ws_url, guard=GUARD)
        try:
            room = await create_room(session, **options)
            extra = dict(join_extra)
            room += extra.pop("room_offset", 0)
            with pytest.raises(JanusError) as refused:
                await join(session, room, "Eve", **extra)
            assert refused.value.code == code
            assert refused.value.reason  # Janus's own words, shown in the bot's event
            # the session is still usable after a refusal
            listing, _ = await (await session.attach(VIDEOROOM, lambda m: None)).request(
                {"request": "exists", "room": room}
            )
            assert listing["exists"] is (code != 426)
        finally:
            await session.close()

    asyncio.run(scenario())


def test_nobody_listening_is_unreachable(janus: JanusServer) -> None:
    async def scenario() -> None:
        with pytest.raises(JanusUnreachable, match="cannot reach"):
            await JanusSession.open("ws://127.0.0.1:9/", guard=GUARD)

    asyncio.run(scenario())


def test_janus_going_away_is_reported_to_every_handle(janus: JanusServer) -> None:
    async def scenario() -> None:
        session = await JanusSession.open(janus.ws_url, guard=GUARD)
        try:
            room = await create_room(session)
            inbox = Inbox()
            handle, _, _ = await join(session, room, "Alice", inbox)
            await asyncio.to_thread(janus.stop)
            await asyncio.wait_for(session.lost.wait(), EVENT_TIMEOUT_S)
            await inbox.wait_for(lambda m: m.get("janus") == "session_lost", "session lost")
            with pytest.raises(JanusUnreachable):
                await handle.request({"request": "listparticipants", "room": room})
        finally:
            await session.close()

    asyncio.run(scenario())
