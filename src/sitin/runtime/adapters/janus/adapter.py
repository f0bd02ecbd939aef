"""JanusAdapter: the bot in a Janus VideoRoom meeting (`ws(s)://host/path?room=<id>[&pin=<pin>]`).

The bot joins the VideoRoom as a publisher under its bot name and publishes one audio stream:
people see it, and hear it speak (adapters/outbound.py: silence until something is played). It
subscribes to each other publisher's audio on a peer connection of its own, which gives every
person's audio separately. The participant list comes from `listparticipants` (checked again
every few seconds, which also catches people who never publish) and from the `publishers` /
`leaving` / `unpublished` / `kicked` events. Chat goes through the TextRoom plugin's room of the
same id over a data channel, when there is one; without it the bot records all the same, and
`send_chat` raises ChatNotSent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from sitin.core.meeting_urls import InvalidMeetingUrl, janus_meeting
from sitin.outbound import OutboundGuard
from sitin.runtime.adapters.base import (
    JOIN_DENIED,
    MEETING_FULL,
    MEETING_NOT_FOUND,
    UNABLE_TO_CONNECT,
    ChatNotSent,
    CouldNotJoin,
    EventSink,
    MeetingAdapter,
    MeetingEnded,
    MeetingEvent,
)
from sitin.runtime.adapters.janus.client import (
    JanusError,
    JanusHandle,
    JanusSession,
    JanusUnreachable,
    Message,
    event_data,
)
from sitin.runtime.adapters.loop_decoding import decode_on_the_loop
from sitin.runtime.adapters.media import consume_audio, now_ms
from sitin.runtime.adapters.outbound import OutboundAudio, OutboundVoice
from sitin.runtime.frames import BotSpoke, ChatReceived, ParticipantJoined, ParticipantLeft

log = logging.getLogger(__name__)

VIDEOROOM = "janus.plugin.videoroom"
TEXTROOM = "janus.plugin.textroom"
ROSTER_CHECK_S = 3.0  # how often the participant list is compared with Janus's
CHAT_OPEN_TIMEOUT_S = 10.0
MAX_CHAT_BYTES = 64 * 1024
MAX_PEOPLE = 1000  # participants tracked per meeting (Janus's messages are untrusted)
MAX_QUEUED_EVENTS = 1000  # room events waiting to be handled; the roster check repairs any loss
CHAT_ONLY = "chat-"  # uuid prefix of someone seen in the TextRoom but not in the VideoRoom
# VideoRoom error codes (janus_videoroom.c)
MISSING_ELEMENT = 429  # joining without the pin a room has
NO_SUCH_ROOM = 426
UNAUTHORIZED = 433  # a wrong pin
ROOM_FULL = 432
JOIN_ERRORS = {
    NO_SUCH_ROOM: MEETING_NOT_FOUND,
    UNAUTHORIZED: JOIN_DENIED,
    MISSING_ELEMENT: JOIN_DENIED,
    ROOM_FULL: MEETING_FULL,
}


@dataclass
class _Person:
    info: ParticipantJoined
    audio_mids: tuple[str, ...] = ()
    subscription: _Subscription | None = None


@dataclass
class _Subscription:
    handle: JanusHandle
    pc: RTCPeerConnection
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class JanusAdapter(OutboundVoice, MeetingAdapter):
    def __init__(
        self, meeting_url: str, bot_name: str, sink: EventSink, *, guard: OutboundGuard
    ) -> None:
        try:
            self.meeting = janus_meeting(meeting_url)
        except InvalidMeetingUrl as exc:
            raise CouldNotJoin(MEETING_NOT_FOUND, str(exc)) from exc
        self.bot_name = bot_name
        self._guard = guard
        self.uuid: str | None = None  # the bot's own VideoRoom id, known after join()
        self._sink = sink
        self.voice = OutboundAudio(lambda pcm, at_ms: self._emit(BotSpoke(pcm, at_ms)))
        self._session: JanusSession | None = None
        self._publisher: JanusHandle | None = None
        self._publisher_pc: RTCPeerConnection | None = None
        self._private_id: int | None = None
        self._people: dict[str, _Person] = {}
        self._chat: _TextRoom | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # VideoRoom events, handled one after another in the order Janus sent them
        self._room_events: asyncio.Queue[dict[str, Any]] = asyncio.Queue(MAX_QUEUED_EVENTS)
        self._had_people = False
        self._leaving = False
        self._ended = False

    @property
    def participants(self) -> list[ParticipantJoined]:
        """Everyone in the room except the bot."""
        return [person.info for person in self._people.values()]

    # ---- joining -------------------------------------------------------------------------

    async def join(self) -> None:
        try:
            self._session = await JanusSession.open(self.meeting.api_url, guard=self._guard)
        except JanusError as exc:
            raise CouldNotJoin(UNABLE_TO_CONNECT, exc.reason) from exc
        try:
            await self._join_room()
        except BaseException:
            await self._session.close()
            raise
        self._spawn(self._watch_session())
        self._spawn(self._handle_room_events())
        self._spawn(self._check_roster())
        log.info("joined Janus room as %s with %d others", self.uuid, len(self._people))

    async def _join_room(self) -> None:
        assert self._session is not None
        try:
            self._publisher = await self._session.attach(VIDEOROOM, self._on_room_event)
            joined, _ = await self._publisher.request(
                {
                    "request": "join",
                    "ptype": "publisher",
                    "room": self.meeting.room,
                    "display": self.bot_name,
                    **self._pin(),
                }  # fmt: skip
            )
        except JanusUnreachable as exc:
            raise CouldNotJoin(UNABLE_TO_CONNECT, exc.reason) from exc
        except JanusError as exc:
            reason = JOIN_ERRORS.get(exc.code or 0, UNABLE_TO_CONNECT)
            raise CouldNotJoin(reason, f"Janus refused to join room {self.meeting.room}: "
                               f"{exc.reason}") from exc  # fmt: skip
        self.uuid = str(joined.get("id"))
        self._private_id = joined.get("private_id")
        for publisher in _list(joined.get("publishers")):
            self._saw_publisher(publisher)
        await self._refresh_roster()
        try:
            await self._publish()
        except JanusError as exc:  # people cannot see the bot, but it still hears them
            log.warning("could not publish the bot's audio in Janus: %s", exc)
        for person_id in list(self._people):
            await self._subscribe(person_id)
        self._chat = await self._open_chat()

    def _pin(self) -> dict[str, str]:
        return {"pin": self.meeting.pin} if self.meeting.pin else {}

    async def _publish(self) -> None:
        assert self._publisher is not None
        pc = self._publisher_pc = _peer_connection()
        pc.addTransceiver(self.voice.track(), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        _, answer = await self._publisher.request({"request": "publish"}, _jsep(pc))
        if answer is None:
            raise JanusError(None, "Janus answered the publish without SDP")
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))

    # ---- participants --------------------------------------------------------------------

    def _saw_publisher(self, publisher: dict[str, Any]) -> None:
        person_id = str(publisher.get("id"))
        if person_id == self.uuid or person_id == "None":
            return
        mids = tuple(
            str(stream["mid"])
            for stream in _list(publisher.get("streams"))
            if stream.get("type") == "audio" and not stream.get("disabled") and "mid" in stream
        )
        person = self._add_person(person_id, publisher.get("display"))
        if person is not None:
            person.audio_mids = mids

    def _add_person(self, person_id: str, display: object) -> _Person | None:
        """The participant with this id, new ones announced; None beyond MAX_PEOPLE."""
        person = self._people.get(person_id)
        if person is None:
            if len(self._people) >= MAX_PEOPLE:
                log.warning("more than %d participants: %s is not tracked", MAX_PEOPLE, person_id)
                return None
            name = display if isinstance(display, str) and display else f"Participant {person_id}"
            info = ParticipantJoined(
                uuid=person_id, name=name[:255], is_host=False, timestamp_ms=int(now_ms())
            )
            person = self._people[person_id] = _Person(info)
            self._had_people = True
            self._emit(info)
        return person

    async def _drop_person(self, person_id: str) -> None:
        person = self._people.pop(person_id, None)
        if person is None:
            return
        await self._unsubscribe(person)
        self._emit(ParticipantLeft(person_id, int(now_ms())))
        if self._had_people and not self._people and not self._leaving:
            self._emit(MeetingEnded("room_empty", int(now_ms())))

    async def _refresh_roster(self) -> None:
        """Compare with Janus's own list: catches people who joined without publishing."""
        assert self._publisher is not None
        listing, _ = await self._publisher.request(
            {"request": "listparticipants", "room": self.meeting.room}
        )
        present = set()
        for participant in _list(listing.get("participants")):
            person_id = str(participant.get("id"))
            if person_id == self.uuid:
                continue
            present.add(person_id)
            self._add_person(person_id, participant.get("display"))
        for person_id in set(self._people) - present:
            if not person_id.startswith(CHAT_ONLY):
                await self._drop_person(person_id)

    async def _check_roster(self) -> None:
        while not self._leaving:
            await asyncio.sleep(ROSTER_CHECK_S)
            try:
                await self._refresh_roster()
            except JanusError as exc:
                if exc.code == NO_SUCH_ROOM:
                    self._end("room_destroyed")
                    return
                if isinstance(exc, JanusUnreachable):
                    return  # _watch_session reports it
                log.warning("could not list the Janus room's participants: %s", exc)

    # ---- audio from each publisher -------------------------------------------------------

    async def _subscribe(self, person_id: str) -> None:
        person = self._people.get(person_id)
        if person is None or person.subscription is not None or not person.audio_mids:
            return
        assert self._session is not None
        handle = await self._session.attach(VIDEOROOM, lambda message: None)
        pc = _peer_connection()
        subscription = person.subscription = _Subscription(handle, pc)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                decode_on_the_loop(pc, track)
                task = asyncio.create_task(consume_audio(person_id, track, self._emit))
                subscription.tasks.add(task)
                task.add_done_callback(subscription.tasks.discard)

        try:
            body: dict[str, Any] = {
                "request": "join", "ptype": "subscriber", "room": self.meeting.room,
                "streams": [{"feed": _feed_id(person_id), "mid": mid} for mid in person.audio_mids],
                **self._pin(),
            }  # fmt: skip
            if self._private_id is not None:
                body["private_id"] = self._private_id
            _, offer = await handle.request(body)
            if offer is None:
                raise JanusError(None, "Janus offered no SDP for the subscription")
            await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], offer["type"]))
            await pc.setLocalDescription(await pc.createAnswer())
            await handle.request({"request": "start", "room": self.meeting.room}, _jsep(pc))
        except Exception:
            log.exception("could not subscribe to %s's audio", person_id)
            person.subscription = None
            await pc.close()
            await handle.detach()

    async def _unsubscribe(self, person: _Person) -> None:
        subscription, person.subscription = person.subscription, None
        if subscription is None:
            return
        await subscription.pc.close()
        for task in subscription.tasks:
            task.cancel()
        await asyncio.gather(*subscription.tasks, return_exceptions=True)
        if not self._leaving:
            await subscription.handle.detach()

    # ---- events --------------------------------------------------------------------------

    def _on_room_event(self, message: Message) -> None:
        if message.get("janus") == "session_lost":
            return  # _watch_session reports it
        data = event_data(message)
        if not data:
            return
        try:
            self._room_events.put_nowait(data)
        except asyncio.QueueFull:
            log.warning("too many Janus room events waiting; one is dropped")

    async def _handle_room_events(self) -> None:
        while True:
            data = await self._room_events.get()
            await self._handle_room_event(data)

    async def _handle_room_event(self, data: dict[str, Any]) -> None:
        kind = data.get("videoroom")
        if kind == "destroyed":
            self._end("room_destroyed")
            return
        if kind != "event":
            return
        for publisher in _list(data.get("publishers")):
            self._saw_publisher(publisher)
            await self._subscribe(str(publisher.get("id")))
        joining = data.get("joining")
        if isinstance(joining, dict):
            self._add_person(str(joining.get("id")), joining.get("display"))
        unpublished = data.get("unpublished")
        if unpublished is not None and str(unpublished) in self._people:
            person = self._people[str(unpublished)]
            person.audio_mids = ()
            await self._unsubscribe(person)
        leaving = data.get("leaving")
        if leaving == "ok" and data.get("reason") == "kicked":
            self._end("kicked")
        elif leaving is not None:
            await self._drop_person(str(leaving))
        kicked = data.get("kicked")
        if kicked is not None:
            if str(kicked) == self.uuid:
                self._end("kicked")
            else:
                await self._drop_person(str(kicked))

    async def _watch_session(self) -> None:
        assert self._session is not None
        await self._session.lost.wait()
        self._end("connection_lost")

    def _end(self, reason: str) -> None:
        if self._leaving or self._ended:
            return
        self._ended = True
        log.warning("Janus meeting over: %s", reason)
        self._emit(MeetingEnded(reason, int(now_ms())))  # type: ignore[arg-type]

    # ---- chat ----------------------------------------------------------------------------

    async def _open_chat(self) -> _TextRoom | None:
        assert self._session is not None
        chat = _TextRoom(self)
        try:
            await chat.open(self._session)
        except (JanusError, TimeoutError) as exc:
            log.warning("no TextRoom chat in Janus room %s: %s", self.meeting.room, exc)
            await chat.close()
            return None
        return chat

    def _chat_received(self, username: str, display: str | None, text: str, private: bool) -> None:
        sender = self._person_for_chat(username, display)
        if sender is None:
            return  # beyond MAX_PEOPLE: nobody to attribute it to
        to = "only_bot" if private else "everyone"
        self._emit(ChatReceived(sender, text, int(now_ms()), to))

    def _person_for_chat(self, username: str, display: str | None) -> str | None:
        """The VideoRoom participant a TextRoom user is: the one with the same display name;
        someone only in the chat becomes a participant of their own."""
        for person in self._people.values():
            if display and person.info.name == display:
                return person.info.uuid
        person = self._add_person(f"{CHAT_ONLY}{username}", display or username)
        return person.info.uuid if person is not None else None

    @property
    def chat_available(self) -> bool:
        return self._chat is not None

    async def send_chat(self, text: str, to_uuid: str | None = None) -> None:
        if self._chat is None:
            raise ChatNotSent(f"Janus room {self.meeting.room} has no TextRoom chat")
        to_username = None
        if to_uuid is not None:
            to_username = self._chat.username_of(self._people.get(to_uuid))
            if to_username is None:
                raise ChatNotSent(f"participant {to_uuid} is not in the room's chat")
        await self._chat.send(text, to_username)

    # ---- leaving -------------------------------------------------------------------------

    async def leave(self) -> None:
        if self._leaving:
            return
        self._leaving = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._chat is not None:
            await self._chat.close()
        for person in list(self._people.values()):
            await self._unsubscribe(person)
        session = self._session
        if session is not None and self._publisher is not None and not self._ended:
            with contextlib.suppress(JanusError, TimeoutError):
                await asyncio.wait_for(self._publisher.request({"request": "leave"}), 3)
        if self._publisher_pc is not None:
            await self._publisher_pc.close()
        await self.voice.stop()
        if session is not None:
            await session.close()
        log.info("left Janus room")

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _emit(self, event: MeetingEvent) -> None:
        try:
            self._sink(event)
        except Exception:
            log.exception("event sink failed on %s", type(event).__name__)


class _TextRoom:
    """The TextRoom room with the meeting's id, over a data channel of its own."""

    def __init__(self, adapter: JanusAdapter) -> None:
        self._adapter = adapter
        self.username = "sitin" + secrets.token_hex(6)
        self._handle: JanusHandle | None = None
        self._pc: RTCPeerConnection | None = None
        self._channel: RTCDataChannel | None = None
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._usernames: dict[str, str | None] = {}  # TextRoom username -> display name

    async def open(self, session: JanusSession) -> None:
        self._handle = await session.attach(TEXTROOM, lambda message: None)
        _, offer = await self._handle.request({"request": "setup"})
        if offer is None:
            raise JanusError(None, "the TextRoom offered no data channel")
        pc = self._pc = _peer_connection()
        # Janus offers the SCTP association; the channel is ours to open (as janus.js does).
        channel = self._channel = pc.createDataChannel("JanusDataChannel")
        opened = asyncio.get_running_loop().create_future()
        channel.on("message", self._on_message)
        channel.on("open", lambda: opened.done() or opened.set_result(None))
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], offer["type"]))
        await pc.setLocalDescription(await pc.createAnswer())
        await self._handle.request({"request": "ack"}, _jsep(pc))
        await asyncio.wait_for(opened, CHAT_OPEN_TIMEOUT_S)
        meeting = self._adapter.meeting
        joined = await self._ask(
            {
                "textroom": "join",
                "room": meeting.room,
                "username": self.username,
                "display": self._adapter.bot_name,
                **self._adapter._pin(),
            }  # fmt: skip
        )
        for participant in _list(joined.get("participants")):
            if isinstance(participant.get("username"), str):
                self._usernames[participant["username"]] = _text(participant.get("display"))

    def username_of(self, person: _Person | None) -> str | None:
        if person is None:
            return None
        if person.info.uuid.startswith(CHAT_ONLY):
            return person.info.uuid.removeprefix(CHAT_ONLY)
        for username, display in self._usernames.items():
            if display == person.info.name:
                return username
        return None

    async def send(self, text: str, to_username: str | None) -> None:
        message: dict[str, Any] = {
            "textroom": "message", "room": self._adapter.meeting.room, "text": text,
        }  # fmt: skip
        if to_username is not None:
            message["to"] = to_username
        await self._ask(message)

    async def _ask(self, message: dict[str, Any]) -> dict[str, Any]:
        if self._channel is None or self._channel.readyState != "open":
            raise JanusUnreachable("the TextRoom data channel is closed")
        transaction = secrets.token_hex(8)
        future = asyncio.get_running_loop().create_future()
        self._replies[transaction] = future
        try:
            self._channel.send(json.dumps({**message, "transaction": transaction}))
            reply = await asyncio.wait_for(future, CHAT_OPEN_TIMEOUT_S)
        finally:
            self._replies.pop(transaction, None)
        if reply.get("textroom") == "error":
            raise JanusError(reply.get("error_code"), str(reply.get("error", "TextRoom error")))
        return reply

    def _on_message(self, raw: str | bytes) -> None:
        if len(raw) > MAX_CHAT_BYTES:
            return
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        future = self._replies.get(str(message.get("transaction")))
        if future is not None and not future.done():
            future.set_result(message)
            return
        kind = message.get("textroom")
        username = _text(message.get("username")) or _text(message.get("from"))
        if kind == "join" and username:
            self._usernames[username] = _text(message.get("display"))
        elif kind in ("leave", "kicked") and username:
            self._usernames.pop(username, None)
        elif kind == "message" and username and username != self.username:
            text = _text(message.get("text"))
            if text:
                display = self._usernames.get(username)
                self._adapter._chat_received(username, display, text, bool(message.get("whisper")))

    async def close(self) -> None:
        if self._channel is not None and self._channel.readyState == "open":
            with contextlib.suppress(Exception):
                self._channel.send(json.dumps({"textroom": "leave", "transaction": "bye",
                                               "room": self._adapter.meeting.room}))  # fmt: skip
        if self._pc is not None:
            await self._pc.close()
        if self._handle is not None and not self._handle.session.lost.is_set():
            await self._handle.detach()


def _peer_connection() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def _jsep(pc: RTCPeerConnection) -> dict[str, Any]:
    """Our SDP for Janus; all candidates are in it, so Janus must not wait for trickled ones."""
    description = pc.localDescription
    return {"type": description.type, "sdp": description.sdp, "trickle": False}


def _feed_id(person_id: str) -> int | str:
    return int(person_id) if person_id.isdigit() else person_id


def _list(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
