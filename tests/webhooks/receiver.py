"""A webhook receiver on 127.0.0.1 for tests and benchmarks: verifies every signature the way a
customer would (re-canonicalize the JSON body, HMAC-SHA256 with the base64 secret), records each
delivery, and answers as the test scripts it (status codes, slowness, holding a request open)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def receiver_signature(secret_b64: str, body: bytes) -> str:
    """What the README tells receivers to do."""
    canonical = json.dumps(
        json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    digest = hmac.new(base64.b64decode(secret_b64), canonical, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    envelope: dict[str, Any]
    received_at: float  # time.time()
    verified_with: list[str]  # the receiver's secrets that verify this delivery

    @property
    def trigger(self) -> str:
        return self.envelope["trigger"]

    @property
    def data(self) -> dict[str, Any]:
        return self.envelope["data"]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0
    hold: threading.Event | None = None  # answer only once set (the test releases it)


@dataclass
class Receiver:
    url: str
    secrets: list[str] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    arrivals: list[dict[str, Any]] = field(default_factory=list)  # every request, before replying
    plan: Callable[[dict[str, Any], int], Reply] = lambda envelope, n: Reply()
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def verified(self, delivery: Delivery) -> bool:
        return bool(delivery.verified_with)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        """Block until ``predicate()`` holds; fail the test if it never does."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    got = [(d.trigger, d.envelope["idempotency_key"]) for d in self.deliveries]
                    raise AssertionError(f"receiver condition not met within {timeout}s; got {got}")
                self._changed.wait(min(left, 0.1))

    def unique(self) -> list[Delivery]:
        """The first accepted delivery of each idempotency key, in order of completion (delivery
        is at least once: a receiver drops repeats by this key)."""
        seen: dict[str, Delivery] = {}
        for delivery in list(self.deliveries):
            seen.setdefault(delivery.envelope["idempotency_key"], delivery)
        return list(seen.values())

    def wait_count(self, count: int, timeout: float = 20.0) -> list[Delivery]:
        """The unique deliveries, once there are at least ``count``."""
        self.wait_for(lambda: len(self.unique()) >= count, timeout)
        return self.unique()

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes: Nagle + delayed ACK would add 40 ms.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            envelope = json.loads(body)
            with receiver._changed:
                receiver.arrivals.append(envelope)
                receiver._changed.notify_all()
                key = envelope["idempotency_key"]
                attempt = sum(1 for e in receiver.arrivals if e["idempotency_key"] == key)
            reply = receiver.plan(envelope, attempt)
            if reply.hold is not None:
                reply.hold.wait(30)
            if reply.delay:
                time.sleep(reply.delay)
            if 200 <= reply.status < 300:
                headers = {k.lower(): v for k, v in self.headers.items()}
                signatures = [headers.get("x-webhook-signature", "")]
                signatures += headers.get("x-webhook-signature-previous", "").split(",")
                verified = [
                    secret
                    for secret in receiver.secrets
                    if any(
                        hmac.compare_digest(receiver_signature(secret, body), s)
                        for s in signatures
                        if s
                    )
                ]
                delivery = Delivery(self.path, headers, body, envelope, time.time(), verified)
                with receiver._changed:
                    receiver.deliveries.append(delivery)
                    receiver._changed.notify_all()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender gave up (timeout)

    return Handler


@contextmanager
def run_receiver() -> Iterator[Receiver]:
    """Serve on 127.0.0.1 (free port) for the length of the block."""
    receiver = Receiver(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
