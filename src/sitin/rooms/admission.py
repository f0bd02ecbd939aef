"""Who may join a room, as whom: the rules applied to a join message before anyone is added.

- role "bot" only with a pass this server issued for this room, under the name it was issued
  for, and one connection per bot;
- everyone else is a human, admitted by the deployment's access rule (``RoomAccess``) and never
  under the name of a bot that is in the room.

The join message is hostile input: every field is checked for type and size here.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from sitin.rooms.passes import InvalidPass
from sitin.rooms.registry import MAX_NAME_LENGTH, Role, RoomRegistry

MAX_PASSCODE_CHARS = 256


@dataclass(frozen=True)
class Admitted:
    name: str
    role: Role
    bot_id: str | None = None


@dataclass(frozen=True)
class Refused:
    """``reason`` is a stable word clients act on; ``detail`` says what to do about it."""

    reason: str
    detail: str


def admit(registry: RoomRegistry, room_name: str, join: dict[str, Any]) -> Admitted | Refused:
    raw_name = join.get("name")
    name = raw_name.strip() if isinstance(raw_name, str) else ""
    role = join.get("role", "human")
    if not 0 < len(name) <= MAX_NAME_LENGTH:
        return Refused("bad_name", f"name: 1 to {MAX_NAME_LENGTH} characters")
    if role not in ("human", "bot"):
        return Refused("bad_role", "role is human or bot")
    room = registry.rooms.get(room_name)
    if role == "bot":
        try:
            claims = registry.passes.check_bot_pass(join.get("pass"), room_name)
        except InvalidPass as exc:
            return Refused("not_a_bot", f"role bot needs this server's pass for its bot: {exc}")
        if claims.name != name:
            return Refused("not_a_bot", "the bot pass was issued for another name")
        if room is not None and room.bot(claims.bot_id) is not None:
            return Refused("bot_already_here", "this bot is in the room already")
        return Admitted(name, "bot", claims.bot_id)
    refused = _human_access(registry, room_name, join)
    if refused is not None:
        return refused
    if room is not None and room.bot_named(name) is not None:
        return Refused("name_taken", f"{name!r} is the name of the bot in this room")
    return Admitted(name, "human")


def _human_access(registry: RoomRegistry, room_name: str, join: dict[str, Any]) -> Refused | None:
    access = registry.access
    if access.mode == "open":
        return None
    invite = join.get("invite")
    if invite is not None:
        try:
            registry.passes.check_invite(invite, room_name)
        except InvalidPass as exc:
            return Refused("invite_refused", str(exc))
        return None
    if access.mode == "invite":
        return Refused("invite_required", "this room is open only through an invite link")
    passcode = join.get("passcode")
    if not isinstance(passcode, str) or not passcode:
        return Refused("passcode_required", "this room needs a passcode")
    given = passcode[:MAX_PASSCODE_CHARS].encode()
    if access.passcode is None or not hmac.compare_digest(given, access.passcode.encode()):
        return Refused("wrong_passcode", "the passcode is not right")
    return None
