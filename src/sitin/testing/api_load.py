"""A mixed API workload against a running sitin, for the load test and benchmarks/api_load.py.

Each round does what a busy client does while one of its bots sits in a meeting: create a
scheduled bot, read it, list bots, read the meeting bot's transcript and chat, post in the
meeting's chat (every ``chat_every`` rounds), add, list and remove a project webhook, and delete
the scheduled bot. A bot's whole life runs beside it (``bot_lifecycle``): join an empty room of the
server, leave, reach ``ended``, ``delete_data``. Every answer is counted by operation and status;
a failure is any 5xx, any transport error, and any status the operation never answers when used
correctly (each operation names the statuses it accepts).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

WEBHOOK_URL = "https://hooks.example.com/sitin-load"  # never called: no bot of it fires


@dataclass
class Tally:
    """Answers by (operation, status); failures with what they were."""

    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.answers.values()) + self.transport_errors

    @property
    def transport_errors(self) -> int:
        return sum(1 for failure in self.failures if failure.startswith("transport"))

    @property
    def server_errors(self) -> int:
        return sum(count for (_op, status), count in self.answers.items() if status >= 500)

    def merge(self, other: Tally) -> None:
        self.answers.update(other.answers)
        self.failures.extend(other.failures)


class ApiMix:
    def __init__(self, http: httpx.Client, meeting_bot_id: str, room_url: str) -> None:
        self.http = http
        self.meeting_bot_id = meeting_bot_id
        self.room_url = room_url  # the meeting's URL: scheduled bots name it too
        self.tally = Tally()

    def call(self, op: str, method: str, path: str, ok: tuple[int, ...], **kwargs) -> dict | None:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.tally.failures.append(f"transport {op}: {type(exc).__name__}: {exc}")
            return None
        self.tally.answers[(op, response.status_code)] += 1
        if response.status_code not in ok:
            self.tally.failures.append(f"{op} {response.status_code}: {response.text[:300]}")
            return None
        return response.json() if response.content else {}

    def round(self, index: int, *, chat_every: int = 5) -> None:
        join_at = (datetime.now(UTC) + timedelta(days=1)).isoformat().replace("+00:00", "Z")
        created = self.call(
            "create bot",
            "POST",
            "/api/v1/bots",
            (201,),
            json={"meeting_url": self.room_url, "bot_name": f"Load {index}", "join_at": join_at},
        )
        if created:
            self.call("get bot", "GET", f"/api/v1/bots/{created['id']}", (200,))
        self.call("list bots", "GET", "/api/v1/bots", (200,))
        live = f"/api/v1/bots/{self.meeting_bot_id}"
        self.call("transcript", "GET", f"{live}/transcript", (200,))
        self.call("chat messages", "GET", f"{live}/chat_messages", (200,))
        if index % chat_every == 0:
            self.call(
                "send chat",
                "POST",
                f"{live}/send_chat_message",
                (200,),
                json={"message": f"load round {index}"},
            )
        hook = self.call(
            "create webhook",
            "POST",
            "/api/v1/webhooks",
            (201,),
            json={"url": f"{WEBHOOK_URL}/{index}", "triggers": ["bot.state_change"]},
        )
        self.call("list webhooks", "GET", "/api/v1/webhooks", (200,))
        if hook:
            self.call("delete webhook", "DELETE", f"/api/v1/webhooks/{hook['id']}", (200, 204))
        if created:
            self.call("delete bot", "DELETE", f"/api/v1/bots/{created['id']}", (200,))

    def bot_lifecycle(self, room_url: str, timeout_s: float = 60.0) -> None:
        """A bot joins ``room_url`` (empty), leaves, ends, and its data is deleted."""
        bot = self.call(
            "create bot",
            "POST",
            "/api/v1/bots",
            (201,),
            json={"meeting_url": room_url, "bot_name": "Brief"},
        )
        if not bot:
            return
        path = f"/api/v1/bots/{bot['id']}"
        if not self._wait_for(path, {"joined_recording", "joined_not_recording"}, timeout_s):
            return
        self.call("leave", "POST", f"{path}/leave", (200,))
        if not self._wait_for(path, {"ended"}, timeout_s):
            return
        deleted = self.call("delete_data", "POST", f"{path}/delete_data", (200,))
        if deleted is not None and deleted.get("state") != "data_deleted":
            self.tally.failures.append(f"delete_data left the bot {deleted.get('state')}")

    def _wait_for(self, path: str, states: set[str], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            bot = self.call("get bot", "GET", path, (200,))
            if bot is None:
                return False
            if bot["state"] in states:
                return True
            if bot["state"] in ("fatal_error", "ended", "data_deleted"):
                why = (bot.get("events") or [{}])[-1].get("sub_type")
                self.tally.failures.append(
                    f"bot {path} reached {bot['state']} ({why}), not {states}"
                )
                return False
            time.sleep(0.2)
        self.tally.failures.append(f"bot {path} not in {states} after {timeout_s} s")
        return False
