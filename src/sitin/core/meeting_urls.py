"""Recognise a meeting link and rewrite it to the one canonical URL a bot joins.

Accepted: Zoom, Google Meet and Microsoft Teams links in the shapes people paste them (angle
brackets from e-mail, percent-encoding, Teams launcher wrappers), sitin's own local rooms, and
Janus VideoRoom meetings named by the server's WebSocket API address plus room and pin
(`ws(s)://host[:port][/path]?room=<id>[&pin=<pin>]`).
The canonical forms are the ones in reference/attendee-api.md §7, so clients that store or
filter by `meeting_url` see the same strings as with Attendee.

Every piece copied into a canonical URL is cut to a narrow character set, and a canonical URL
that still carries a second http(s) URL (plain, percent-encoded once or twice, or base64) is
refused: a bot must never be steered to a page the user did not mean.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import SplitResult, parse_qs, quote, unquote, urlsplit, urlunsplit


class Platform(StrEnum):
    ZOOM = "zoom"
    GOOGLE_MEET = "google_meet"
    TEAMS = "teams"
    ROOM = "room"
    JANUS = "janus"


@dataclass(frozen=True)
class MeetingUrl:
    platform: Platform
    url: str  # the canonical form


@dataclass(frozen=True)
class JanusMeeting:
    """What a canonical Janus meeting URL names: the API address, the room and its pin."""

    api_url: str  # ws(s)://host[:port]/path, the Janus WebSocket API
    room: int
    pin: str | None


class InvalidMeetingUrl(ValueError):
    """Raised for a link no bot can join; str(error) is the message shown to the user."""


INVALID = "Invalid meeting URL"
EMPTY = f"{INVALID}: it is empty"
SEVERAL_URLS = f"{INVALID}: it contains more than one URL"
WRONG_SCHEME = (
    f"{INVALID}: only http:// and https:// links are accepted, "
    "or ws:// and wss:// for a Janus server"
)
MALFORMED_HOST = f"{INVALID}: its host or port is malformed"
HAS_CREDENTIALS = f"{INVALID}: it must not contain a user name or password"
UNKNOWN_SITE = f"{INVALID}: expected a Zoom, Google Meet, Microsoft Teams, sitin room or Janus link"
ZOOM_WITHOUT_NUMBER = f"{INVALID}: a Zoom link must contain the meeting number"
MEET_WITHOUT_CODE = f"{INVALID}: a Google Meet link must look like https://meet.google.com/<code>"
TEAMS_UNKNOWN_FORM = (
    f"{INVALID}: a Teams link must be a meetup-join link with Tid and Oid, "
    "a light-meetings link with coords, or a /meet/<id>?p=<passcode> link"
)
ROOM_BAD_FORM = (
    f"{INVALID}: a room link must look like http(s)://<host>[:port]/rooms/<name>, "
    "the name being 1 to 64 of A-Z a-z 0-9 _ -"
)
JANUS_BAD_FORM = (
    f"{INVALID}: a Janus link must look like ws(s)://<host>[:port][/path]?room=<id>[&pin=<pin>], "
    "the path being A-Z a-z 0-9 / _ . -"
)
JANUS_BAD_ROOM = (
    f"{INVALID}: a Janus link needs room=<id>, the VideoRoom's number (1 to 18446744073709551615)"
)
JANUS_BAD_PIN = f"{INVALID}: a Janus room pin must be 1 to 128 of A-Z a-z 0-9 . _ ~ -"

MAX_LENGTH = 4096
DECODING_ATTEMPTS = 3  # the text as given, then decoded once, then twice

MEET_HOST = "meet.google.com"
TEAMS_CANONICAL_HOST = "teams.microsoft.com"
TEAMS_HOSTS = frozenset({"teams.microsoft.com", "teams.live.com"})

_ZOOM_HOST = re.compile(r"(?:[a-z0-9-]+\.)*zoom\.(?:us|com)")
_ZOOM_PATH = re.compile(r"[A-Za-z0-9/_-]*")
_ZOOM_PASSWORD = re.compile(r"[A-Za-z0-9]+(?:\.[0-9]+)?")
_MEET_CODE = re.compile(r"/([A-Za-z0-9-]+)")

# Teams pieces are Microsoft ids (GUIDs, "19:meeting_…@thread.v2", digits): unreserved URL
# characters, plus ":" and "@" inside a conversation id.
_TOKEN = r"[A-Za-z0-9._~-]+"
_CONVERSATION = r"[A-Za-z0-9:@._~-]+"
_TEAMS_TOKEN = re.compile(_TOKEN)
_TEAMS_CONVERSATION = re.compile(_CONVERSATION)
_TEAMS_MEETUP_JOIN = re.compile(
    rf"/l/meetup-join/(?P<conversation>{_CONVERSATION})/(?P<message>{_TOKEN})\?(?P<query>.*)",
    re.DOTALL,
)
_TEAMS_CONTEXT_TENANT = re.compile(rf'"Tid"\s*:\s*"({_TOKEN})"')
_TEAMS_CONTEXT_ORGANIZER = re.compile(rf'"Oid"\s*:\s*"({_TOKEN})"')
_TEAMS_LIGHT_MEETING = re.compile(r"/light-meetings/launch\?(?P<query>[^#]*)")
_TEAMS_COORDS = re.compile(r"(?:^|&)coords=([^&]+)")
_TEAMS_MEET = re.compile(rf"/meet/(?P<meeting_id>{_TOKEN})\?(?P<query>[^#]*)")
_TEAMS_PASSCODE = re.compile(rf"(?:^|&)p=({_TOKEN})")

_ROOM_PATH = re.compile(r"/rooms/([A-Za-z0-9_-]{1,64})/?")
_JANUS_SCHEME = re.compile(r"wss?://", re.IGNORECASE)
_JANUS_PATH = re.compile(r"(?:/[A-Za-z0-9_.-]+)*/?")
_JANUS_ROOM = re.compile(r"[0-9]{1,20}")
_JANUS_PIN = re.compile(r"[A-Za-z0-9._~-]{1,128}")
JANUS_MAX_ROOM = 2**64 - 1  # VideoRoom ids are unsigned 64-bit numbers
_HOST_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")

_SCHEME_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_HOST_PORT_PREFIX = re.compile(r"[A-Za-z0-9.-]+:[0-9]+(?:[/?#]|$)")  # "zoom.us:443/…", no scheme
_URL_START = re.compile(r"(?:https?|wss?)://[^\s<>\"']", re.IGNORECASE)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]+")
_SHORTEST_BASE64_URL = 11  # base64 of "http://x" is 11 characters without padding


def parse_meeting_url(raw: str) -> MeetingUrl:
    """Return the platform and canonical URL of `raw`, or raise InvalidMeetingUrl."""
    if not isinstance(raw, str):
        raise InvalidMeetingUrl(INVALID)
    text = raw.strip().removeprefix("<").rstrip(">").strip()
    if not text:
        raise InvalidMeetingUrl(EMPTY)
    if len(text) > MAX_LENGTH:
        raise InvalidMeetingUrl(f"{INVALID}: it is longer than {MAX_LENGTH} characters")

    rejection = INVALID
    saw_several_urls = False
    for _ in range(DECODING_ATTEMPTS):
        try:
            meeting = _canonicalize(text)
        except InvalidMeetingUrl as error:
            rejection = str(error)
        else:
            if _count_urls(meeting.url) <= 1:
                return meeting
            saw_several_urls = True
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    raise InvalidMeetingUrl(SEVERAL_URLS if saw_several_urls else rejection)


def _canonicalize(text: str) -> MeetingUrl:
    if _JANUS_SCHEME.match(text):
        return _janus(text)
    parts, scheme_given = _split(text)
    host = parts.hostname or ""
    if host == MEET_HOST:
        return _google_meet(parts)
    if host in TEAMS_HOSTS:
        return _teams(host, urlunsplit(("", "", parts.path, parts.query, parts.fragment)))
    if _ZOOM_HOST.fullmatch(host):
        return _zoom(host, parts)
    if parts.path.startswith("/rooms/"):
        if not scheme_given:  # the scheme decides whether the browser page can use the mic
            raise InvalidMeetingUrl(ROOM_BAD_FORM)
        return _room(host, parts)
    raise InvalidMeetingUrl(UNKNOWN_SITE)


def _split(text: str) -> tuple[SplitResult, bool]:
    """Split `text` as a URL; a link typed without a scheme is read as https.

    Returns the parts and whether the scheme was written out (room links need it).
    """
    scheme_given = bool(_SCHEME_PREFIX.match(text)) and not _HOST_PORT_PREFIX.match(text)
    if text.startswith("//"):
        text = "https:" + text
    elif not scheme_given:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a malformed or out-of-range port
    except ValueError as error:
        raise InvalidMeetingUrl(MALFORMED_HOST) from error
    if parts.scheme not in ("http", "https"):
        raise InvalidMeetingUrl(WRONG_SCHEME)
    if not parts.hostname:
        raise InvalidMeetingUrl(MALFORMED_HOST)
    if parts.username is not None or parts.password is not None:
        raise InvalidMeetingUrl(HAS_CREDENTIALS)
    return parts, scheme_given


def _zoom(host: str, parts: SplitResult) -> MeetingUrl:
    if host.endswith(".com"):
        host = host.removesuffix(".com") + ".us"
    path = _ZOOM_PATH.match(parts.path).group()
    path = re.sub(r"/{2,}", "/", "/" + path)
    if not re.search(r"[0-9]", path):
        raise InvalidMeetingUrl(ZOOM_WITHOUT_NUMBER)

    query = parse_qs(parts.query)
    kept = []
    password = _ZOOM_PASSWORD.match(query.get("pwd", [""])[0])
    if password:
        kept.append(f"pwd={password.group()}")
    registrant_token = query.get("tk", [""])[0].strip()
    if registrant_token:
        # Quoted so that it can never add parameters or change the meaning of the URL.
        kept.append(f"tk={quote(registrant_token, safe='')}")
    query_string = "?" + "&".join(kept) if kept else ""
    return MeetingUrl(Platform.ZOOM, f"https://{host}{path}{query_string}")


def _google_meet(parts: SplitResult) -> MeetingUrl:
    code = _MEET_CODE.match(parts.path)
    if not code:
        raise InvalidMeetingUrl(MEET_WITHOUT_CODE)
    return MeetingUrl(Platform.GOOGLE_MEET, f"https://{MEET_HOST}/{code.group(1)}")


def _teams(host: str, after_host: str) -> MeetingUrl:
    """Read a Teams link; `after_host` is everything after the host, so wrappers such as
    `/v2/?meetingjoin=true#` or `/dl/launcher/launcher.html?url=/_#` are searched through."""
    meetup = _TEAMS_MEETUP_JOIN.search(after_host)
    if meetup:
        context = meetup["query"].partition("context=")[2]
        tenant = _TEAMS_CONTEXT_TENANT.search(context)
        organizer = _TEAMS_CONTEXT_ORGANIZER.search(context)
        if tenant and organizer:
            return _teams_meetup_join(
                meetup["conversation"], meetup["message"], tenant.group(1), organizer.group(1)
            )

    light_meeting = _TEAMS_LIGHT_MEETING.search(after_host)
    if light_meeting:
        coords = _TEAMS_COORDS.search(light_meeting["query"])
        meeting = _teams_from_coords(coords.group(1)) if coords else None
        if meeting:
            return meeting

    meet = _TEAMS_MEET.search(after_host)
    if meet:
        passcode = _TEAMS_PASSCODE.search(meet["query"])
        if passcode:
            url = f"https://{host}/meet/{meet['meeting_id']}?p={passcode.group(1)}"
            return MeetingUrl(Platform.TEAMS, url)

    raise InvalidMeetingUrl(TEAMS_UNKNOWN_FORM)


def _teams_meetup_join(conversation: str, message: str, tenant: str, organizer: str) -> MeetingUrl:
    context = f'{{"Tid":"{tenant}","Oid":"{organizer}"}}'
    url = f"https://{TEAMS_CANONICAL_HOST}/l/meetup-join/{conversation}/{message}?context={context}"
    return MeetingUrl(Platform.TEAMS, url)


def _teams_from_coords(encoded: str) -> MeetingUrl | None:
    """The `coords` of a light-meetings link: base64 of JSON naming the meetup-join pieces."""
    try:
        fields = json.loads(_decode_base64(unquote(encoded).strip()))
    except (ValueError, RecursionError):
        return None
    if not isinstance(fields, dict):
        return None
    conversation = fields.get("conversationId")
    tenant = fields.get("tenantId")
    organizer = fields.get("organizerId")
    message = fields.get("messageId", "0")
    if isinstance(message, int) and not isinstance(message, bool):
        message = str(message)
    if not (
        _is_text_matching(conversation, _TEAMS_CONVERSATION)
        and all(_is_text_matching(piece, _TEAMS_TOKEN) for piece in (message, tenant, organizer))
    ):
        return None
    return _teams_meetup_join(conversation, message, tenant, organizer)


def _is_text_matching(value: object, pattern: re.Pattern[str]) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _room(host: str, parts: SplitResult) -> MeetingUrl:
    name = _ROOM_PATH.fullmatch(parts.path)
    if not name or not _is_valid_host(host) or parts.port == 0:
        raise InvalidMeetingUrl(ROOM_BAD_FORM)
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return MeetingUrl(Platform.ROOM, f"{parts.scheme}://{netloc}/rooms/{name.group(1)}")


def _janus(text: str) -> MeetingUrl:
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise InvalidMeetingUrl(MALFORMED_HOST) from error
    if parts.username is not None or parts.password is not None:
        raise InvalidMeetingUrl(HAS_CREDENTIALS)
    host = parts.hostname or ""
    if not _is_valid_host(host) or port == 0 or not _JANUS_PATH.fullmatch(parts.path):
        raise InvalidMeetingUrl(JANUS_BAD_FORM)
    query = parse_qs(parts.query, keep_blank_values=True)
    rooms, pins = query.get("room", []), query.get("pin", [])
    if len(rooms) != 1 or not _JANUS_ROOM.fullmatch(rooms[0]):
        raise InvalidMeetingUrl(JANUS_BAD_ROOM)
    room = int(rooms[0])
    if not 0 < room <= JANUS_MAX_ROOM:
        raise InvalidMeetingUrl(JANUS_BAD_ROOM)
    if len(pins) > 1 or (pins and not _JANUS_PIN.fullmatch(pins[0])):
        raise InvalidMeetingUrl(JANUS_BAD_PIN)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    path = parts.path or "/"
    pin = f"&pin={pins[0]}" if pins else ""
    return MeetingUrl(Platform.JANUS, f"{parts.scheme.lower()}://{netloc}{path}?room={room}{pin}")


def janus_meeting(url: str) -> JanusMeeting:
    """The pieces of a canonical Janus meeting URL (as `parse_meeting_url` returns it)."""
    meeting = parse_meeting_url(url)
    if meeting.platform != Platform.JANUS:
        raise InvalidMeetingUrl(JANUS_BAD_FORM)
    parts = urlsplit(meeting.url)
    query = parse_qs(parts.query)
    api_url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return JanusMeeting(api_url, int(query["room"][0]), query.get("pin", [None])[0])


def _is_valid_host(host: str) -> bool:
    if ":" not in host:
        return bool(_HOST_NAME.fullmatch(host))
    try:
        return not ipaddress.IPv6Address(host).scope_id
    except ValueError:
        return False


def _count_urls(url: str) -> int:
    """How many http(s) or ws(s) URLs `url` holds: the most found in any reading of it (as written,
    %-decoded once, %-decoded twice), counting those hidden in base64 too. Linear in len(url)."""
    decoded_once = unquote(url)
    return max(_count_urls_in(reading) for reading in (url, decoded_once, unquote(decoded_once)))


def _count_urls_in(text: str) -> int:
    found = len(_URL_START.findall(text))
    for run in _BASE64_RUN.findall(text):
        if len(run) >= _SHORTEST_BASE64_URL:
            # A payload may begin at any character of the run: decode it at each of the four
            # alignments; a payload shows as readable text under exactly one of them.
            for shift in range(4):
                decoded = _decode_base64(run[shift:]).decode("latin-1")
                found += len(_URL_START.findall(decoded))
    return found


def _decode_base64(text: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not; b"" when it is not base64."""
    text = text.replace("-", "+").replace("_", "/").rstrip("=")
    if len(text) % 4 == 1:  # never valid: drop the stray last character
        text = text[:-1]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return b""
