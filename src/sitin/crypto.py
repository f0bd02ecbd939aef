"""Encryption at rest for secrets sitin keeps (provider API keys, webhook signing secrets).

Fernet with a key derived (HKDF-SHA256) from the server's secret key and a purpose label, so each
kind of secret has its own key and a leaked database alone reveals none of them.
"""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["InvalidToken", "box"]


@lru_cache(maxsize=32)
def box(server_key: bytes, purpose: str) -> Fernet:
    """The cipher for ``purpose`` (e.g. "provider credentials") under this server's key."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        server_key
    )
    return Fernet(base64.urlsafe_b64encode(key))
