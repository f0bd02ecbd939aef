"""Signed passes for the local rooms: the credential a server issues to its own bot, and invite
links for closed rooms.

A bot pass names the room, the bot's id and the bot's display name, and expires within minutes:
the bot's runtime asks for one right before it connects, and the room accepts role "bot" only
with a pass for that room. An invite lets a person into one room until it expires. Both are
signed with the server's secret key (itsdangerous, a salt per kind, so one never passes as the
other); they carry no secret of their own, only what they claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

BOT_PASS_SECONDS = 120  # issued right before the bot connects; a copy is soon worthless
MAX_PASS_CHARS = 2048  # longer strings are not a pass (read before any signature work)


class InvalidPass(Exception):
    """The pass is not one this server issued for this room now; the message says why (safe to
    send back: it never repeats the pass)."""


@dataclass(frozen=True)
class BotPass:
    """What a bot pass claims: this bot, under this name, may be the bot in this room."""

    room: str
    bot_id: str
    name: str


class RoomPasses:
    """Issues and checks passes under one server secret."""

    def __init__(self, secret_key: bytes, *, bot_pass_seconds: int = BOT_PASS_SECONDS) -> None:
        self._bots = URLSafeTimedSerializer(secret_key, salt="sitin room bot pass")
        self._invites = URLSafeTimedSerializer(secret_key, salt="sitin room invite")
        self.bot_pass_seconds = bot_pass_seconds

    def issue_bot_pass(self, claims: BotPass) -> str:
        return self._bots.dumps({"room": claims.room, "bot": claims.bot_id, "name": claims.name})

    def check_bot_pass(self, token: object, room: str) -> BotPass:
        data = _load(self._bots, token, self.bot_pass_seconds, "bot pass")
        claims = BotPass(str(data.get("room")), str(data.get("bot")), str(data.get("name")))
        if claims.room != room:
            raise InvalidPass("the bot pass is for another room")
        return claims

    def issue_invite(self, room: str, *, valid_seconds: int) -> str:
        return self._invites.dumps({"room": room, "seconds": valid_seconds})

    def check_invite(self, token: object, room: str) -> None:
        # An invite's lifetime is part of what was signed; read it, then check the age against it.
        data = _load(self._invites, token, None, "invite")
        seconds = data.get("seconds")
        if data.get("room") != room:
            raise InvalidPass("the invite is for another room")
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            raise InvalidPass("the invite is not valid")
        _load(self._invites, token, seconds, "invite")


def _load(
    serializer: URLSafeTimedSerializer, token: object, max_age: int | None, what: str
) -> dict[str, Any]:
    if not isinstance(token, str) or not 0 < len(token) <= MAX_PASS_CHARS:
        raise InvalidPass(f"no {what}")
    try:
        data = serializer.loads(token, max_age=max_age)
    except SignatureExpired:
        raise InvalidPass(f"the {what} has expired") from None
    except BadData:
        raise InvalidPass(f"the {what} was not issued by this server") from None
    if not isinstance(data, dict):
        raise InvalidPass(f"the {what} was not issued by this server")
    return data
