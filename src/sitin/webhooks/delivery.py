"""Delivering one attempt row: claim it, POST it signed, record the outcome, retry with backoff.

Three short transactions around the HTTP call, never one held open across it:

1. claim: the row must be pending and due; a ``bot.state_change`` also waits while an older one
   to the same subscription for the same bot is pending (receivers see states in order). Claiming
   moves ``next_attempt_at`` forward as a lease, so a duplicate task finds it not due.
2. POST with the timeout, no redirects; 2xx is success.
3. record: an UPDATE of the row, never an insert. If delete_data removed the row meanwhile the
   update matches nothing and the outcome is dropped: a late delivery cannot resurrect content.
   For a bot whose data is deleted, the receiver's response body is not kept.
"""

import logging
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Connection

from sitin.context import AppContext
from sitin.core.states import BotState
from sitin.core.timefmt import as_utc, utcnow
from sitin.core.triggers import Trigger
from sitin.db import bots, webhook_deliveries
from sitin.db.capture import DataDeleted, sealing_key
from sitin.db.engine import Tx
from sitin.db.sealing import WEBHOOK_RESPONSE, Opener
from sitin.outbound import Purpose, RefusedTarget, UnresolvableTarget
from sitin.webhooks import signing
from sitin.webhooks.dispatch import enqueue_all
from sitin.webhooks.envelope import canonical_json

log = logging.getLogger(__name__)

USER_AGENT = "sitin-Webhook/1.0"
EXCERPT_CHARS = 500
LEASE_MARGIN = timedelta(seconds=30)  # beyond the request timeout, before a sweep may retake it


@dataclass
class Claim:
    attempt_id: str
    url: str
    bot_id: str | None
    subscription_id: str
    trigger: str
    payload: dict[str, Any]
    attempt_number: int
    signing_secrets: list[bytes]


@dataclass
class Outcome:
    success: bool
    retryable: bool
    response_code: int | None
    response_excerpt: str | None
    error: str | None
    started_at: str
    duration_ms: int


class Deliverer:
    """The ``webhook.deliver`` task for one context (holds the pooled HTTP client)."""

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.client = httpx.Client(
            follow_redirects=False,
            transport=httpx.HTTPTransport(
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            ),
            headers={"User-Agent": USER_AGENT},
        )

    def close(self) -> None:
        self.client.close()

    def deliver(self, attempt_id: str) -> None:
        claim = self._claim(attempt_id)
        if claim is None:
            return
        outcome = self._send(claim)
        self._record(claim, outcome)

    # 1. claim

    def _claim(self, attempt_id: str) -> Claim | None:
        settings = self.ctx.settings
        with self.ctx.db.write() as tx:
            conn = tx.conn
            row = webhook_deliveries.lock_for_claim(conn, attempt_id=attempt_id)
            if row is None or row["status"] != "pending":
                return None  # deleted (delete_data, unsubscribed) or already finished
            now = utcnow()
            due = row["next_attempt_at"]
            if due is not None and as_utc(due) > now + timedelta(milliseconds=50):
                return None  # leased by another worker, or a retry not due yet
            if row["trigger"] == Trigger.STATE_CHANGE and (
                webhook_deliveries.older_state_change_pending(conn, row)
            ):
                return None  # the older one's completion queues this one
            lease = now + timedelta(seconds=settings.webhook_timeout_seconds) + LEASE_MARGIN
            webhook_deliveries.update_attempt(conn, attempt_id=attempt_id, next_attempt_at=lease)
            payload = row["payload"]
            if isinstance(payload, str):  # sealed: a content trigger
                bot_id = row["bot_id"] or ""
                opener = Opener(bot_id, self.ctx.keys.key_for_reading(bot_id))
                payload = webhook_deliveries.open_payload(opener, payload)
            if payload is None:  # its key is gone: it can never be sent
                webhook_deliveries.update_attempt(
                    conn, attempt_id=attempt_id, status="failure", next_attempt_at=None
                )
                return None
            secrets = signing.ensure_secrets(conn, settings, project_id=row["project_id"])
        return Claim(
            attempt_id=attempt_id,
            url=row["url"],
            bot_id=row["bot_id"],
            subscription_id=row["subscription_id"],
            trigger=row["trigger"],
            payload=payload,
            attempt_number=row["attempt_count"] + 1,
            signing_secrets=secrets,
        )

    # 2. send

    def _send(self, claim: Claim) -> Outcome:
        started_at = utcnow().isoformat()
        began = time.monotonic()

        def outcome(**fields: Any) -> Outcome:
            fields.setdefault("response_code", None)
            fields.setdefault("response_excerpt", None)
            fields.setdefault("error", None)
            duration = int((time.monotonic() - began) * 1000)
            return Outcome(started_at=started_at, duration_ms=duration, **fields)

        try:
            target = self.ctx.outbound.resolve(claim.url, Purpose.WEBHOOK)
        except RefusedTarget as exc:
            retryable = isinstance(exc, UnresolvableTarget)
            return outcome(success=False, retryable=retryable, error=str(exc))
        headers = {
            "Content-Type": "application/json",
            "Host": target.host_header,
            **signing.signature_headers(claim.signing_secrets, claim.payload),
        }
        extensions = {"sni_hostname": target.server_name} if target.server_name else {}
        try:
            with self.client.stream(
                "POST",
                target.connect_url,
                content=canonical_json(claim.payload),
                headers=headers,
                extensions=extensions,
                timeout=self.ctx.settings.webhook_timeout_seconds,
            ) as response:
                excerpt = _read_excerpt(response)
                code = response.status_code
        except httpx.TimeoutException:
            return outcome(success=False, retryable=True, error="timeout")
        except httpx.HTTPError as exc:
            return outcome(
                success=False, retryable=True, error=f"{type(exc).__name__}: {exc}"[:200]
            )
        return outcome(
            success=200 <= code < 300, retryable=True, response_code=code, response_excerpt=excerpt
        )

    # 3. record

    def _record(self, claim: Claim, outcome: Outcome) -> None:
        settings = self.ctx.settings
        queue = self.ctx.queue
        with self.ctx.db.write() as tx:
            conn = tx.conn
            data_deleted = _lock_bot_state(conn, claim.bot_id) in (None, BotState.DATA_DELETED)
            history = webhook_deliveries.pending_history(conn, attempt_id=claim.attempt_id)
            if history is None:
                log.info(
                    "webhook attempt %s was deleted while in flight; dropped", claim.attempt_id
                )
                return
            entry = {
                "attempt": claim.attempt_number,
                "started_at": outcome.started_at,
                "status": "success" if outcome.success else "failure",
                "response_code": outcome.response_code,
                "duration_ms": outcome.duration_ms,
                "error": outcome.error,
            }
            if not data_deleted:
                entry["response_excerpt"] = _kept_excerpt(tx, claim.bot_id, outcome)
            final = (
                outcome.success
                or not outcome.retryable
                or claim.attempt_number >= settings.webhook_max_attempts
            )
            now = utcnow()
            values: dict[str, Any] = {
                "attempt_count": claim.attempt_number,
                "attempts": [*history, entry],
            }
            if outcome.success:
                values.update(status="success", succeeded_at=now, next_attempt_at=None)
            elif final:
                values.update(status="failure", next_attempt_at=None)
            else:
                delay = settings.webhook_retry_base_delay * 2 ** (claim.attempt_number - 1)
                values["next_attempt_at"] = now + timedelta(seconds=delay)
            if not webhook_deliveries.update_pending(conn, attempt_id=claim.attempt_id, **values):
                return
            if not final:
                tx.after_commit(lambda: enqueue_all(queue, [claim.attempt_id], delay=delay))
            elif claim.trigger == Trigger.STATE_CHANGE and claim.bot_id is not None:
                waiting = webhook_deliveries.next_state_change(
                    conn, subscription_id=claim.subscription_id, bot_id=claim.bot_id
                )
                if waiting:
                    tx.after_commit(lambda: enqueue_all(queue, [waiting]))
        log.info(
            "webhook %s attempt %d for %s: %s",
            claim.trigger,
            claim.attempt_number,
            claim.attempt_id,
            outcome.response_code or outcome.error,
        )


def _kept_excerpt(tx: Tx, bot_id: str | None, outcome: Outcome) -> str | None:
    """The receiver's response excerpt as stored: sealed under the bot's key, since a receiver
    may echo what it was sent (a transcript, a participant's name)."""
    excerpt = outcome.response_excerpt
    if excerpt is None or bot_id is None:
        return excerpt
    try:
        return sealing_key(tx, bot_id).seal_text(excerpt, WEBHOOK_RESPONSE)
    except DataDeleted:
        return None


def _read_excerpt(response: httpx.Response) -> str:
    body = b""
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) >= EXCERPT_CHARS * 4:
            break
    return body.decode("utf-8", errors="replace")[:EXCERPT_CHARS]


def _lock_bot_state(conn: Connection, bot_id: str | None) -> BotState | None:
    """The bot's state under a share lock: delete_data (which locks it exclusively) cannot run
    between this check and the commit."""
    if bot_id is None:
        return BotState.ENDED  # not a bot's delivery: nothing to fence
    return bots.lock_state_shared(conn, bot_id=bot_id)
