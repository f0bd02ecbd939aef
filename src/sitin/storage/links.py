"""Signed, expiring download links that point at sitin (``/blobs/<key>``), for every store.

Blobs are sealed at rest, so a client cannot read them from the store directly: the link brings
it to sitin, which checks the HMAC signature and streams the opened bytes.
"""

import hashlib
import hmac
import time
from urllib.parse import quote


class LinkSigner:
    def __init__(self, secret_key: bytes, public_url: str):
        self._secret = hmac.new(secret_key, b"sitin download links", hashlib.sha256).digest()
        self._public_url = public_url.rstrip("/")

    def signature(self, key: str, expires: int) -> str:
        message = f"{key}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def url(self, key: str, *, expires_in: int) -> str:
        expires = int(time.time()) + expires_in
        return (
            f"{self._public_url}/blobs/{quote(key)}?expires={expires}"
            f"&signature={self.signature(key, expires)}"
        )

    def verify(self, key: str, expires: int, signature: str) -> bool:
        return expires >= time.time() and hmac.compare_digest(
            self.signature(key, expires), signature
        )
