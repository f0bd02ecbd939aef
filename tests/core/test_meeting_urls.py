"""Which meeting links a bot accepts, and the canonical URL each one is stored and joined as."""

import base64
import dataclasses
import json
from urllib.parse import quote

import pytest

from sitin.core.meeting_urls import (
    JANUS_BAD_FORM,
    JANUS_BAD_PIN,
    JANUS_BAD_ROOM,
    WRONG_SCHEME,
    InvalidMeetingUrl,
    JanusMeeting,
    MeetingUrl,
    Platform,
    janus_meeting,
    parse_meeting_url,
)

SEVERAL_URLS = "Invalid meeting URL: it contains more than one URL"
MALFORMED = "Invalid meeting URL: its host or port is malformed"
ROOM_BAD_FORM = (
    "Invalid meeting URL: a room link must look like http(s)://<host>[:port]/rooms/<name>, "
    "the name being 1 to 64 of A-Z a-z 0-9 _ -"
)

# Made-up Teams ids shaped like real ones.
CONVERSATION = "19:meeting_NzI0ZGQ5YjAtMmE1Ny00YzNlLWIxZjctOWE2ZDE0ODM1YzQy@thread.v2"
TENANT = "3f1c2a9e-8b47-4d2a-9c51-7e0b6d4f2a18"
ORGANIZER = "a9d84e21-5c3b-4f70-8e16-2b9c0d7f4e53"
CONTEXT = f'{{"Tid":"{TENANT}","Oid":"{ORGANIZER}"}}'
TEAMS_CANONICAL = f"https://teams.microsoft.com/l/meetup-join/{CONVERSATION}/0?context={CONTEXT}"
# As Teams writes it in invitations: the conversation id and the context percent-encoded.
TEAMS_INVITE_PATH = (
    f"/l/meetup-join/{quote(CONVERSATION, safe='')}/0?context={quote(CONTEXT, safe='')}"
)

EVIL = "https://evil.example/"
EVIL_BASE64 = base64.urlsafe_b64encode(EVIL.encode()).decode().rstrip("=")


def encode(text: str, times: int = 1) -> str:
    for _ in range(times):
        text = quote(text, safe="")
    return text


def coords(fields: dict, *, urlsafe: bool = False, padded: bool = True) -> str:
    raw = json.dumps(fields).encode()
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    return text if padded else text.rstrip("=")


MEETUP_FIELDS = {
    "conversationId": CONVERSATION,
    "tenantId": TENANT,
    "organizerId": ORGANIZER,
    "messageId": "0",
}
LIGHT_MEETING = "https://teams.microsoft.com/light-meetings/launch?agent=web&version=23071100421"


def valid(raw: str, platform: Platform, url: str, id: str):
    return pytest.param(raw, MeetingUrl(platform, url), id=id)


ZOOM = Platform.ZOOM
MEET = Platform.GOOGLE_MEET
TEAMS = Platform.TEAMS
ROOM = Platform.ROOM
JANUS = Platform.JANUS

VALID = [
    # --- Zoom
    valid("https://zoom.us/j/1234567890", ZOOM, "https://zoom.us/j/1234567890", "zoom-plain"),
    valid(
        "https://zoom.us/j/1234567890?pwd=Ab12Cd",
        ZOOM,
        "https://zoom.us/j/1234567890?pwd=Ab12Cd",
        "zoom-with-password",
    ),
    valid("https://zoom.com/j/123", ZOOM, "https://zoom.us/j/123", "zoom-com-becomes-zoom-us"),
    valid(
        "https://us02web.zoom.us/j/123?pwd=x1",
        ZOOM,
        "https://us02web.zoom.us/j/123?pwd=x1",
        "zoom-subdomain-kept",
    ),
    valid("https://acme.zoom.com/j/123", ZOOM, "https://acme.zoom.us/j/123", "zoom-com-subdomain"),
    valid("https://US02WEB.Zoom.US/j/123", ZOOM, "https://us02web.zoom.us/j/123", "zoom-host-case"),
    valid("http://zoom.us/j/123", ZOOM, "https://zoom.us/j/123", "zoom-http-forced-to-https"),
    valid("zoom.us/j/123", ZOOM, "https://zoom.us/j/123", "zoom-without-scheme"),
    valid("https://zoom.us:443/j/123", ZOOM, "https://zoom.us/j/123", "zoom-port-dropped"),
    valid(
        "https://zoom.us/wc/join/987654", ZOOM, "https://zoom.us/wc/join/987654", "zoom-web-join"
    ),
    valid("https://zoom.us/s/987654", ZOOM, "https://zoom.us/s/987654", "zoom-start-path"),
    valid("https://zoom.us//j///123", ZOOM, "https://zoom.us/j/123", "zoom-slashes-collapsed"),
    valid(
        "https://zoom.us/j/123;jsessionid=abc",
        ZOOM,
        "https://zoom.us/j/123",
        "zoom-path-cut-at-first-odd-char",
    ),
    valid(
        "https://zoom.us/j/123?pwd=abc.1",
        ZOOM,
        "https://zoom.us/j/123?pwd=abc.1",
        "zoom-password-with-dot-suffix",
    ),
    valid(
        "https://zoom.us/j/123?pwd=abc.1.2x",
        ZOOM,
        "https://zoom.us/j/123?pwd=abc.1",
        "zoom-password-cut-after-suffix",
    ),
    valid(
        "https://zoom.us/j/123?pwd=abc!<script>",
        ZOOM,
        "https://zoom.us/j/123?pwd=abc",
        "zoom-password-cut-at-odd-char",
    ),
    valid(
        "https://zoom.us/j/123?pwd=!abc", ZOOM, "https://zoom.us/j/123", "zoom-bad-password-dropped"
    ),
    valid(
        "https://zoom.us/j/123?tk=rXHbPVt0QOy-7D5X.DQMAAAAZ_kHy8",
        ZOOM,
        "https://zoom.us/j/123?tk=rXHbPVt0QOy-7D5X.DQMAAAAZ_kHy8",
        "zoom-registrant-token-kept",
    ),
    valid(
        "https://zoom.us/w/123?tk=T0k&uname=Bob&pwd=P4ss&from=addon",
        ZOOM,
        "https://zoom.us/w/123?pwd=P4ss&tk=T0k",
        "zoom-other-params-stripped-pwd-before-tk",
    ),
    valid(
        "https://zoom.us/j/123?tk=a%26pwd%3Devil",
        ZOOM,
        "https://zoom.us/j/123?tk=a%26pwd%3Devil",
        "zoom-token-cannot-inject-params",
    ),
    valid(
        "https://zoom.us/j/123?pwd=abc&next=https://evil.example/",
        ZOOM,
        "https://zoom.us/j/123?pwd=abc",
        "zoom-url-in-dropped-param-is-harmless",
    ),
    valid("https://zoom.us/j/123#success", ZOOM, "https://zoom.us/j/123", "zoom-fragment-dropped"),
    valid("  https://zoom.us/j/123 \n", ZOOM, "https://zoom.us/j/123", "zoom-whitespace-trimmed"),
    valid("https://zoom.us/j/123>", ZOOM, "https://zoom.us/j/123", "zoom-trailing-angle-bracket"),
    valid("<https://zoom.us/j/123>", ZOOM, "https://zoom.us/j/123", "zoom-in-angle-brackets"),
    valid(
        encode("https://zoom.us/j/123?pwd=abc.1"),
        ZOOM,
        "https://zoom.us/j/123?pwd=abc.1",
        "zoom-percent-encoded",
    ),
    valid(
        encode("https://zoom.us/j/123?pwd=abc", times=2),
        ZOOM,
        "https://zoom.us/j/123?pwd=abc",
        "zoom-double-encoded",
    ),
    # --- Google Meet
    valid(
        "https://meet.google.com/abc-defg-hij",
        MEET,
        "https://meet.google.com/abc-defg-hij",
        "meet-plain",
    ),
    valid(
        "https://meet.google.com/abc-defg-hij?authuser=1&hs=122",
        MEET,
        "https://meet.google.com/abc-defg-hij",
        "meet-query-dropped",
    ),
    valid(
        "https://meet.google.com/abc-defg-hij/extra/path#frag",
        MEET,
        "https://meet.google.com/abc-defg-hij",
        "meet-extra-path-dropped",
    ),
    valid(
        "http://MEET.Google.com/abc-defg-hij",
        MEET,
        "https://meet.google.com/abc-defg-hij",
        "meet-http-and-host-case",
    ),
    valid(
        "meet.google.com/abc-defg-hij",
        MEET,
        "https://meet.google.com/abc-defg-hij",
        "meet-without-scheme",
    ),
    valid(
        encode("https://meet.google.com/abc-defg-hij?pli=1"),
        MEET,
        "https://meet.google.com/abc-defg-hij",
        "meet-percent-encoded",
    ),
    # --- Teams meetup-join
    valid(TEAMS_CANONICAL, TEAMS, TEAMS_CANONICAL, "teams-meetup-join-canonical"),
    valid(
        "https://teams.microsoft.com" + TEAMS_INVITE_PATH,
        TEAMS,
        TEAMS_CANONICAL,
        "teams-meetup-join-as-in-invites",
    ),
    valid(
        "https://teams.live.com" + TEAMS_INVITE_PATH,
        TEAMS,
        TEAMS_CANONICAL,
        "teams-live-meetup-join-becomes-microsoft",
    ),
    valid(
        f"https://teams.microsoft.com/l/meetup-join/{CONVERSATION}/0?context="
        + encode(f'{{"Tid": "{TENANT}", "Oid": "{ORGANIZER}", "IsBroadcastMeeting": false}}')
        + "&anon=true",
        TEAMS,
        TEAMS_CANONICAL,
        "teams-meetup-join-extra-context-and-params",
    ),
    valid(
        f"https://teams.microsoft.com/v2/?meetingjoin=true#{TEAMS_INVITE_PATH}&anon=true",
        TEAMS,
        TEAMS_CANONICAL,
        "teams-behind-v2-prefix",
    ),
    valid(
        "https://teams.microsoft.com/dl/launcher/launcher.html?url=/_#"
        f"/l/meetup-join/{CONVERSATION}/0?context={CONTEXT}&anon=true&type=meetup-join",
        TEAMS,
        TEAMS_CANONICAL,
        "teams-behind-launcher",
    ),
    valid(
        "https://teams.microsoft.com/dl/launcher/launcher.html?url="
        + encode(f"/_#{TEAMS_INVITE_PATH}&anon=true")
        + "&type=meetup-join&deeplinkId=5b7c&directDl=true&msLaunch=true",
        TEAMS,
        TEAMS_CANONICAL,
        "teams-behind-encoded-launcher",
    ),
    # --- Teams light-meetings coords
    valid(
        f"{LIGHT_MEETING}&coords={coords(MEETUP_FIELDS)}&deeplinkId=x",
        TEAMS,
        TEAMS_CANONICAL,
        "teams-light-meetings-coords",
    ),
    valid(
        f"{LIGHT_MEETING}&coords={encode(coords(MEETUP_FIELDS))}",
        TEAMS,
        TEAMS_CANONICAL,
        "teams-light-meetings-coords-percent-encoded",
    ),
    valid(
        f"{LIGHT_MEETING}&coords={coords(MEETUP_FIELDS, urlsafe=True, padded=False)}",
        TEAMS,
        TEAMS_CANONICAL,
        "teams-light-meetings-coords-urlsafe-unpadded",
    ),
    valid(
        f"{LIGHT_MEETING}&coords="
        + coords({k: v for k, v in MEETUP_FIELDS.items() if k != "messageId"}),
        TEAMS,
        TEAMS_CANONICAL,
        "teams-light-meetings-message-id-defaults-to-0",
    ),
    valid(
        f"{LIGHT_MEETING}&coords=" + coords(MEETUP_FIELDS | {"messageId": 1712345678901}),
        TEAMS,
        TEAMS_CANONICAL.replace("/0?", "/1712345678901?"),
        "teams-light-meetings-numeric-message-id",
    ),
    valid(
        "https://teams.live.com/light-meetings/launch?coords="
        + coords(MEETUP_FIELDS | {"label": "~~~???>>>"}),
        TEAMS,
        TEAMS_CANONICAL,
        "teams-light-meetings-coords-with-plus-and-slash",
    ),
    # --- Teams /meet/
    valid(
        "https://teams.live.com/meet/9384562378123?p=AbCdEfGhIj",
        TEAMS,
        "https://teams.live.com/meet/9384562378123?p=AbCdEfGhIj",
        "teams-live-meet",
    ),
    valid(
        "https://teams.microsoft.com/meet/2345678901?p=XyZ12&anon=true",
        TEAMS,
        "https://teams.microsoft.com/meet/2345678901?p=XyZ12",
        "teams-microsoft-meet-extra-params-dropped",
    ),
    valid(
        "https://teams.live.com/dl/launcher/launcher.html?url=/_#/meet/938?p=Abc&anon=true",
        TEAMS,
        "https://teams.live.com/meet/938?p=Abc",
        "teams-meet-behind-launcher",
    ),
    valid(
        encode("https://teams.live.com/meet/938?p=Abc"),
        TEAMS,
        "https://teams.live.com/meet/938?p=Abc",
        "teams-meet-percent-encoded",
    ),
    # --- sitin rooms
    valid(
        "http://localhost:8000/rooms/standup",
        ROOM,
        "http://localhost:8000/rooms/standup",
        "room-with-port",
    ),
    valid(
        "https://Sitin.Example.COM/rooms/Team_1-a?x=1#frag",
        ROOM,
        "https://sitin.example.com/rooms/Team_1-a",
        "room-host-lowercased-query-fragment-dropped",
    ),
    valid(
        "HTTP://LOCALHOST:8000/rooms/a/",
        ROOM,
        "http://localhost:8000/rooms/a",
        "room-scheme-case-and-trailing-slash",
    ),
    valid(
        "http://127.0.0.1:8765/rooms/x",
        ROOM,
        "http://127.0.0.1:8765/rooms/x",
        "room-ipv4",
    ),
    valid("http://[::1]:8000/rooms/x", ROOM, "http://[::1]:8000/rooms/x", "room-ipv6"),
    valid(
        "http://localhost/rooms/" + "n" * 64,
        ROOM,
        "http://localhost/rooms/" + "n" * 64,
        "room-name-64-chars",
    ),
    valid(
        "<http://localhost:8000/rooms/standup>",
        ROOM,
        "http://localhost:8000/rooms/standup",
        "room-in-angle-brackets",
    ),
    valid(
        "http://localhost:8000/rooms/%41bc",
        ROOM,
        "http://localhost:8000/rooms/Abc",
        "room-percent-encoded-name",
    ),
    # --- Janus VideoRoom: the WebSocket API address, room and pin
    valid("ws://127.0.0.1:8188?room=1234", JANUS, "ws://127.0.0.1:8188/?room=1234", "janus-plain"),
    valid(
        "wss://janus.example.com/janus/ws?room=42&pin=s3cr.t_~-",
        JANUS,
        "wss://janus.example.com/janus/ws?room=42&pin=s3cr.t_~-",
        "janus-path-and-pin",
    ),
    valid(
        "WSS://Janus.Example.COM:8989/?pin=x&room=7&lang=en",
        JANUS,
        "wss://janus.example.com:8989/?room=7&pin=x",
        "janus-lower-case-reordered-unknown-dropped",
    ),
    valid(
        "<ws://[::1]:8188/?room=18446744073709551615>",
        JANUS,
        "ws://[::1]:8188/?room=18446744073709551615",
        "janus-ipv6-largest-room",
    ),
    valid(
        "ws%3A%2F%2Flocalhost%3A8188%2F%3Froom%3D5",
        JANUS,
        "ws://localhost:8188/?room=5",
        "janus-percent-encoded",
    ),
    valid("ws://localhost/?room=007", JANUS, "ws://localhost/?room=7", "janus-leading-zeros"),
    # like every link, one that is percent-encoded is read decoded, and the fragment is dropped
    valid("ws://localhost/a%2Fb?room=1", JANUS, "ws://localhost/a/b?room=1", "janus-encoded-path"),
    valid(
        "wss://localhost/?room=1#https://evil.example/",
        JANUS,
        "wss://localhost/?room=1",
        "janus-fragment-dropped",
    ),
]


def invalid(raw, id: str, message: str | None = None):
    return pytest.param(raw, message, id=id)


INVALID = [
    # --- garbage
    invalid("", "empty", "Invalid meeting URL: it is empty"),
    invalid("   \t\n", "blank", "Invalid meeting URL: it is empty"),
    invalid(">", "only-angle-bracket", "Invalid meeting URL: it is empty"),
    invalid(None, "not-a-string", "Invalid meeting URL"),
    invalid("not a url", "words"),
    invalid("https://", "scheme-only", "Invalid meeting URL: its host or port is malformed"),
    invalid(
        "https://example.com/j/123",
        "unknown-site",
        "Invalid meeting URL: expected a Zoom, Google Meet, Microsoft Teams, sitin room "
        "or Janus link",
    ),
    invalid(
        "ftp://zoom.us/j/123",
        "ftp-scheme",
        WRONG_SCHEME,
    ),
    invalid("javascript:alert(1)", "javascript"),
    invalid("javascript://zoom.us/j/123%0Aalert(1)", "javascript-with-zoom-host"),
    invalid("mailto:someone@zoom.us", "mailto"),
    invalid("data:text/html,https://zoom.us/j/1", "data-url"),
    invalid(
        "https://zoom.us/j/" + "1" * 5000,
        "too-long",
        "Invalid meeting URL: it is longer than 4096 characters",
    ),
    invalid(
        "https://user:secret@zoom.us/j/123",
        "credentials-in-url",
        "Invalid meeting URL: it must not contain a user name or password",
    ),
    invalid(
        "https://zoom.us:99999/j/123",
        "port-out-of-range",
        "Invalid meeting URL: its host or port is malformed",
    ),
    invalid("https://[zoom.us/j/123", "broken-brackets"),
    # --- Zoom
    invalid(
        "https://zoom.us/my/johnsmith",
        "zoom-personal-link-without-number",
        "Invalid meeting URL: a Zoom link must contain the meeting number",
    ),
    invalid("https://zoom.us/", "zoom-no-path"),
    invalid("https://zoom.us/j/١٢٣", "zoom-non-ascii-digits"),
    invalid("https://zoom.us.evil.example/j/123", "zoom-as-subdomain-of-other-site"),
    invalid("https://evilzoom.us/j/123", "zoom-lookalike-host"),
    invalid("https://zoom.evil/j/123", "zoom-other-tld"),
    invalid(encode("https://zoom.us/j/123", times=3), "zoom-triple-encoded-beyond-attempts"),
    # --- Google Meet
    invalid(
        "https://meet.google.com/",
        "meet-without-code",
        "Invalid meeting URL: a Google Meet link must look like https://meet.google.com/<code>",
    ),
    invalid("https://meet.google.com/_meet/abc-defg-hij", "meet-code-with-bad-char"),
    invalid("https://meet.google.com.evil.example/abc-defg-hij", "meet-host-suffix-attack"),
    invalid("https://evil.example/meet.google.com/abc-defg-hij", "meet-host-in-path"),
    invalid("https://meet.google.com@evil.example/abc-defg-hij", "meet-host-as-user-name"),
    invalid("https://www.meet.google.com/abc-defg-hij", "meet-other-subdomain"),
    # --- Teams
    invalid(
        f"https://teams.microsoft.com/l/meetup-join/{CONVERSATION}/0",
        "teams-meetup-join-without-context",
    ),
    invalid(
        f'https://teams.microsoft.com/l/meetup-join/{CONVERSATION}/0?context={{"Tid":"{TENANT}"}}',
        "teams-context-without-oid",
    ),
    invalid(
        f"https://teams.microsoft.com/l/meetup-join/{CONVERSATION}/0"
        + '?context={"Tid":"a b","Oid":"o"}',
        "teams-context-tid-with-space",
    ),
    invalid(
        TEAMS_CANONICAL.replace("19:meeting_", "19:<meeting>_"),
        "teams-conversation-with-odd-chars",
    ),
    invalid(
        f"{LIGHT_MEETING}&coords=" + coords(MEETUP_FIELDS | {"conversationId": "19:a b"}),
        "teams-coords-conversation-with-space",
    ),
    invalid(
        "https://teams.microsoft.com.evil.example" + TEAMS_INVITE_PATH,
        "teams-host-suffix-attack",
    ),
    invalid("https://teams.microsoft.com/l/channel/19%3Aabc/General", "teams-channel-link"),
    invalid("https://teams.live.com/meet/938", "teams-meet-without-passcode"),
    invalid(f"{LIGHT_MEETING}&coords=not-base64!!", "teams-coords-not-base64"),
    invalid(
        f"{LIGHT_MEETING}&coords=" + base64.b64encode(b"[1, 2]").decode(),
        "teams-coords-not-an-object",
    ),
    invalid(
        f"{LIGHT_MEETING}&coords=" + base64.b64encode(b"[" * 3000).decode(),
        "teams-coords-deeply-nested-json",
    ),
    invalid(
        f"{LIGHT_MEETING}&coords="
        + coords({k: v for k, v in MEETUP_FIELDS.items() if k != "tenantId"}),
        "teams-coords-without-tenant",
    ),
    invalid(
        f"{LIGHT_MEETING}&coords=" + coords(MEETUP_FIELDS | {"organizerId": "x/../y"}),
        "teams-coords-organizer-with-slash",
    ),
    invalid(f"{LIGHT_MEETING}&deeplinkId=x", "teams-light-meetings-without-coords"),
    # --- more than one URL in the canonical result
    invalid(f"https://zoom.us/j/123?tk={EVIL}", "two-urls-plain", SEVERAL_URLS),
    invalid(f"https://zoom.us/j/123?tk={encode(EVIL)}", "two-urls-percent-encoded", SEVERAL_URLS),
    invalid(
        f"https://zoom.us/j/123?tk={encode(EVIL, times=2)}",
        "two-urls-double-encoded",
        SEVERAL_URLS,
    ),
    invalid(f"https://zoom.us/j/123?tk={EVIL_BASE64}", "two-urls-base64-in-token", SEVERAL_URLS),
    invalid(
        f"https://zoom.us/j/123/{EVIL_BASE64}",
        "two-urls-base64-in-zoom-path",
        SEVERAL_URLS,
    ),
    invalid(f"https://meet.google.com/{EVIL_BASE64}", "two-urls-base64-in-meet-code", SEVERAL_URLS),
    invalid(
        f"https://teams.live.com/meet/938?p={EVIL_BASE64}",
        "two-urls-base64-in-teams-passcode",
        SEVERAL_URLS,
    ),
    invalid(
        "https://zoom.us/j/123?tk=x" + base64.b64encode(b"https://a.example/").decode().strip("="),
        "two-urls-base64-unaligned-in-token",
        SEVERAL_URLS,
    ),
    invalid(
        f"https://zoom.us/j/123?tk={EVIL_BASE64}{encode(EVIL)}",
        "three-urls-base64-and-encoded",
        SEVERAL_URLS,
    ),
    invalid(
        f"http://localhost:8000/rooms/{EVIL_BASE64}",
        "two-urls-base64-in-room-name",
        SEVERAL_URLS,
    ),
    # --- sitin rooms
    invalid("localhost:8000/rooms/standup", "room-without-scheme", ROOM_BAD_FORM),
    invalid("ftp://localhost/rooms/standup", "room-ftp"),
    invalid(
        "http://localhost/rooms/" + "n" * 65,
        "room-name-too-long",
        ROOM_BAD_FORM,
    ),
    invalid("http://localhost/rooms/", "room-empty-name"),
    invalid("http://localhost/rooms/a.b", "room-name-with-dot"),
    invalid("http://localhost/rooms/a/b", "room-nested-path"),
    invalid("http://localhost/rooms/a%2Fb", "room-encoded-slash"),
    invalid("http://localhost/sitin/rooms/a", "room-under-prefix"),
    invalid("http://bad_host/rooms/a", "room-host-with-underscore"),
    invalid("http://localhost:0/rooms/a", "room-port-zero"),
    invalid("http://[fe80::1%25eth0]/rooms/a", "room-ipv6-with-zone"),
    # --- Janus
    invalid("ws://localhost:8188", "janus-no-room", JANUS_BAD_ROOM),
    invalid("ws://localhost:8188/?room=", "janus-empty-room", JANUS_BAD_ROOM),
    invalid("ws://localhost:8188/?room=abc", "janus-room-not-a-number", JANUS_BAD_ROOM),
    invalid("ws://localhost:8188/?room=0", "janus-room-zero", JANUS_BAD_ROOM),
    invalid("ws://localhost:8188/?room=-1", "janus-room-negative", JANUS_BAD_ROOM),
    invalid("ws://localhost/?room=18446744073709551616", "janus-room-too-big", JANUS_BAD_ROOM),
    invalid("ws://localhost/?room=1&room=2", "janus-two-rooms", JANUS_BAD_ROOM),
    invalid("ws://localhost/?room=1&pin=", "janus-empty-pin", JANUS_BAD_PIN),
    invalid("ws://localhost/?room=1&pin=a%20b", "janus-pin-with-space", JANUS_BAD_PIN),
    invalid("ws://localhost/?room=1&pin=" + "p" * 129, "janus-pin-too-long", JANUS_BAD_PIN),
    invalid("ws://localhost/?room=1&pin=a&pin=b", "janus-two-pins", JANUS_BAD_PIN),
    invalid("ws://bad_host/?room=1", "janus-host-with-underscore", JANUS_BAD_FORM),
    invalid("ws://localhost:0/?room=1", "janus-port-zero", JANUS_BAD_FORM),
    invalid("ws://localhost:99999/?room=1", "janus-port-out-of-range", MALFORMED),
    invalid("ws://localhost/a b?room=1", "janus-path-with-space", JANUS_BAD_FORM),
    invalid(
        "ws://user:pw@localhost/?room=1",
        "janus-with-credentials",
        "Invalid meeting URL: it must not contain a user name or password",
    ),
    invalid(f"ws://localhost/?room=1&pin={EVIL_BASE64}", "janus-url-hidden-in-pin", SEVERAL_URLS),
    invalid("janus://localhost/?room=1", "janus-unknown-scheme", WRONG_SCHEME),
]


@pytest.mark.parametrize(("raw", "expected"), VALID)
def test_accepted_link_becomes_its_canonical_url(raw, expected):
    assert parse_meeting_url(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), VALID)
def test_canonical_url_parses_to_itself(raw, expected):
    # A stored meeting_url must pass validation again unchanged (PATCH, filters, retries).
    assert parse_meeting_url(expected.url) == expected


@pytest.mark.parametrize(("raw", "message"), INVALID)
def test_rejected_link_says_why(raw, message):
    with pytest.raises(InvalidMeetingUrl) as caught:
        parse_meeting_url(raw)
    assert str(caught.value).startswith("Invalid meeting URL")
    if message is not None:
        assert str(caught.value) == message


def test_coords_case_really_contains_plus_and_slash():
    encoded = coords(MEETUP_FIELDS | {"label": "~~~???>>>"})
    assert "+" in encoded
    assert "/" in encoded


def test_invalid_meeting_url_is_a_value_error():
    with pytest.raises(ValueError):
        parse_meeting_url("https://example.com/")


def test_meeting_url_is_immutable_and_platform_is_a_plain_string():
    meeting = parse_meeting_url("https://zoom.us/j/123")
    with pytest.raises(dataclasses.FrozenInstanceError):
        meeting.url = "https://evil.example/"  # type: ignore[misc]
    assert meeting.platform == "zoom"
    assert [p.value for p in Platform] == ["zoom", "google_meet", "teams", "room", "janus"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ws://127.0.0.1:8188/?room=1234", JanusMeeting("ws://127.0.0.1:8188/", 1234, None)),
        (
            "wss://janus.example.com/janus?room=42&pin=abc",
            JanusMeeting("wss://janus.example.com/janus", 42, "abc"),
        ),
    ],
)
def test_janus_meeting_names_api_address_room_and_pin(url, expected):
    assert janus_meeting(url) == expected


def test_janus_meeting_refuses_other_platforms():
    with pytest.raises(InvalidMeetingUrl):
        janus_meeting("http://localhost/rooms/a")
