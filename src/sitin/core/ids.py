"""Public object ids: a type prefix plus 16 random alphanumerics (Attendee's format)."""

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
ID_LENGTH = 16


def new_id(prefix: str) -> str:
    """Return e.g. ``bot_Ab3dE5fG7hJ9kL1m`` for prefix ``bot``."""
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(ID_LENGTH))


def new_api_key() -> str:
    """A 32-character alphanumeric API key; only its SHA-256 is ever stored."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(32))
