"""Per-project signing secrets and the ``X-Webhook-Signature`` header (Attendee-compatible).

A secret is 32 random bytes, shown base64, stored Fernet-encrypted with a key derived from the
server's secret key. The newest secret signs ``X-Webhook-Signature``. Rotating keeps the previous
secrets valid for an overlap: until they expire, their signatures are sent as well, comma-separated
in ``X-Webhook-Signature-Previous``, so receivers can switch secrets without dropping deliveries.
"""

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import Connection

from sitin.config import Settings
from sitin.core.timefmt import as_utc, utcnow
from sitin.crypto import box
from sitin.db import webhook_secrets
from sitin.webhooks.envelope import canonical_json

SIGNATURE_HEADER = "X-Webhook-Signature"
PREVIOUS_SIGNATURES_HEADER = "X-Webhook-Signature-Previous"
SECRET_BYTES = 32


def _fernet(server_key: bytes) -> Fernet:
    return box(server_key, "sitin webhook signing secrets")


def sign(secret: bytes, envelope: dict[str, Any]) -> str:
    """base64(HMAC-SHA256(secret, canonical JSON of the envelope))."""
    digest = hmac.new(secret, canonical_json(envelope), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(secret_b64: str, envelope: dict[str, Any], signature: str) -> bool:
    """What a receiver does: recompute the signature with the base64 secret, compare in constant
    time."""
    expected = sign(base64.b64decode(secret_b64), envelope)
    return hmac.compare_digest(expected, signature.strip())


def valid_secrets(conn: Connection, settings: Settings, *, project_id: str) -> list[bytes]:
    """The project's secrets that still verify, newest first (empty if it has none yet)."""
    fernet = _fernet(settings.resolved_secret_key)
    tokens = webhook_secrets.valid_tokens(conn, project_id=project_id, now=utcnow())
    return [fernet.decrypt(token.encode()) for token in tokens]


def _insert_secret(conn: Connection, settings: Settings, project_id: str) -> bytes:
    secret = secrets.token_bytes(SECRET_BYTES)
    token = _fernet(settings.resolved_secret_key).encrypt(secret).decode()
    webhook_secrets.add(conn, project_id=project_id, token=token)
    return secret


def ensure_secrets(conn: Connection, settings: Settings, *, project_id: str) -> list[bytes]:
    """Like ``valid_secrets``, creating the project's first secret if needed (write transaction)."""
    found = valid_secrets(conn, settings, project_id=project_id)
    if found:
        return found
    # Lock the project so two first deliveries cannot both create a "first" secret.
    webhook_secrets.lock_project(conn, project_id=project_id)
    found = valid_secrets(conn, settings, project_id=project_id)
    return found or [_insert_secret(conn, settings, project_id)]


def current_secret(conn: Connection, settings: Settings, *, project_id: str) -> str:
    """The secret receivers should use now, base64 (created on first use)."""
    return base64.b64encode(ensure_secrets(conn, settings, project_id=project_id)[0]).decode()


def rotate_secret(
    conn: Connection, settings: Settings, *, project_id: str, overlap_seconds: int | None = None
) -> str:
    """Make a new current secret; older ones keep verifying for the overlap. Returns it, base64."""
    overlap = (
        settings.webhook_secret_overlap_seconds if overlap_seconds is None else overlap_seconds
    )
    now = utcnow()
    webhook_secrets.lock_project(conn, project_id=project_id)
    webhook_secrets.expire_all(
        conn, project_id=project_id, now=now, expires=now + timedelta(seconds=overlap)
    )
    return base64.b64encode(_insert_secret(conn, settings, project_id)).decode()


def secret_expiries(conn: Connection, *, project_id: str) -> list[datetime | None]:
    """When each valid secret stops verifying, newest first (None: the current one)."""
    expiries = webhook_secrets.valid_expiries(conn, project_id=project_id, now=utcnow())
    return [as_utc(value) if value else None for value in expiries]


def signature_headers(signing_secrets: list[bytes], envelope: dict[str, Any]) -> dict[str, str]:
    """``X-Webhook-Signature`` by the newest secret, plus the older still-valid ones if any."""
    headers = {SIGNATURE_HEADER: sign(signing_secrets[0], envelope)}
    if len(signing_secrets) > 1:
        headers[PREVIOUS_SIGNATURES_HEADER] = ",".join(
            sign(secret, envelope) for secret in signing_secrets[1:]
        )
    return headers
