"""AES-GCM sealing of captured content under a bot's data key, and wrapping of data keys.

A sealed field is the text ``enc1:`` + base64(nonce ‖ ciphertext ‖ tag), so it fits the same TEXT
and JSON columns the plaintext did. The associated data names the field (``chat_messages.text``),
so a ciphertext moved to another column or row kind does not open. Lookups on a sealed field use
a keyed hash stored beside it: equal values match, and without the key the hash says nothing.
"""

import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from typing import Any

import pybase64
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sitin.core import json_text

SEALED_PREFIX = "enc1:"
# A sealed value in a JSON column, as the column's text holds it: a JSON string whose characters
# (the prefix and base64) need no escaping, so the base64 lies between this and the last quote.
SEALED_JSON_TEXT_PREFIX = '"' + SEALED_PREFIX
_BASE64_IN_JSON_TEXT = slice(len(SEALED_JSON_TEXT_PREFIX), -1)
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
MASTER_ID_BYTES = 8


class ContentUnreadable(ValueError):
    """A sealed value that does not open: its key is gone, or the bytes were altered."""


def _derive(material: bytes, label: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=label.encode()).derive(
        material
    )


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


class DataKey:
    """One bot's data key: seals and opens its content, hashes values for lookups."""

    __slots__ = ("_aead", "_lookup", "material")

    def __init__(self, material: bytes):
        if len(material) != KEY_BYTES:
            raise ValueError(f"a data key is {KEY_BYTES} bytes, got {len(material)}")
        self.material = material
        self._aead = AESGCM(_derive(material, "sitin content"))
        self._lookup = _derive(material, "sitin lookup")

    @classmethod
    def generate(cls) -> "DataKey":
        return cls(AESGCM.generate_key(bit_length=KEY_BYTES * 8))

    # --- bytes ------------------------------------------------------------------------------

    def seal(self, data: bytes, purpose: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data, purpose)

    def open(self, token: bytes, purpose: bytes) -> bytes:
        if len(token) < NONCE_BYTES + TAG_BYTES:
            raise ContentUnreadable("sealed value is too short")
        try:
            return self._aead.decrypt(token[:NONCE_BYTES], token[NONCE_BYTES:], purpose)
        except InvalidTag:
            raise ContentUnreadable("sealed value does not open with this key") from None

    @property
    def aead(self) -> AESGCM:
        """The cipher itself, for the chunked blob format (which builds its own nonces)."""
        return self._aead

    # --- text and JSON columns --------------------------------------------------------------

    def seal_text(self, value: str | None, purpose: str) -> str | None:
        if value is None:
            return None
        token = self.seal(value.encode(), purpose.encode())
        return SEALED_PREFIX + pybase64.b64encode(token).decode("ascii")

    def open_text(self, value: str | None, purpose: str) -> str | None:
        """The plaintext of a sealed value; ``None`` stays ``None``. Raises ContentUnreadable."""
        if value is None:
            return None
        return self._open_sealed(value, purpose).decode()

    def _open_sealed(self, value: Any, purpose: str) -> bytes:
        # Few calls for the whole opening: a transcript opens one value per utterance, and a
        # call per step (check, decode, split, decrypt) cost as much as the decryption.
        if not isinstance(value, str) or not value.startswith(SEALED_PREFIX):
            raise ContentUnreadable(f"{purpose} is not sealed")
        return self._open_base64(value[len(SEALED_PREFIX) :], purpose, purpose.encode())

    def _open_base64(self, body: str, purpose: str, associated: bytes) -> bytes:
        try:  # pybase64 (SIMD): the stdlib's decoding cost more than the decryption
            token = pybase64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ContentUnreadable(f"{purpose} is not valid base64") from None
        if len(token) < NONCE_BYTES + TAG_BYTES:
            raise ContentUnreadable("sealed value is too short")
        try:
            return self._aead.decrypt(token[:NONCE_BYTES], token[NONCE_BYTES:], associated)
        except InvalidTag:
            raise ContentUnreadable("sealed value does not open with this key") from None

    def seal_json(self, value: Any, purpose: str) -> str | None:
        if value is None:
            return None
        return self.seal_text(json.dumps(value, separators=(",", ":"), ensure_ascii=False), purpose)

    def open_json_column_texts(
        self, texts: Iterable[str], purpose: str
    ) -> list[bytes | ContentUnreadable]:
        """For each JSON column value read as its text (not parsed: a transcript reads one per
        utterance), the JSON text it was sealed as, or the reason it does not open."""
        associated = purpose.encode()
        opened: list[bytes | ContentUnreadable] = []
        for text in texts:
            if text.startswith(SEALED_JSON_TEXT_PREFIX) and text.endswith('"'):
                try:
                    opened.append(
                        self._open_base64(text[_BASE64_IN_JSON_TEXT], purpose, associated)
                    )
                except ContentUnreadable as exc:
                    opened.append(exc)
            else:
                opened.append(ContentUnreadable(f"{purpose} is not sealed"))
        return opened

    def open_json(self, value: Any, purpose: str) -> Any:
        if value is None:
            return None
        return json_text.loads(self._open_sealed(value, purpose))

    def lookup_hash(self, value: str) -> str:
        """A keyed hash of ``value`` for equality filters on a sealed column (hex, 64 chars)."""
        return hmac.new(self._lookup, value.encode(), hashlib.sha256).hexdigest()


class MasterKeys:
    """The server's master key (wraps data keys) and the previous ones still accepted while a
    rotation rewraps the key store."""

    def __init__(self, current: bytes, previous: tuple[bytes, ...] = ()):
        self._keys = [current, *previous]
        self._by_id = {self.key_id(k): AESGCM(k) for k in self._keys}
        self.current_id = self.key_id(current)

    @classmethod
    def from_secrets(
        cls, current: str | bytes, previous: tuple[str | bytes, ...] = ()
    ) -> "MasterKeys":
        """Master keys derived from operator-supplied secrets (any length, any characters)."""

        def derive(secret: str | bytes) -> bytes:
            raw = secret.encode() if isinstance(secret, str) else secret
            return _derive(raw, "sitin master key")

        return cls(derive(current), tuple(derive(p) for p in previous))

    @staticmethod
    def key_id(key: bytes) -> str:
        return hashlib.sha256(b"sitin master key id" + key).hexdigest()[: MASTER_ID_BYTES * 2]

    def wrap(self, key: DataKey, bot_id: str) -> tuple[str, bytes]:
        """(master key id, nonce ‖ wrapped key) bound to ``bot_id``."""
        nonce = os.urandom(NONCE_BYTES)
        aead = self._by_id[self.current_id]
        return self.current_id, nonce + aead.encrypt(nonce, key.material, bot_id.encode())

    def unwrap(self, master_id: str, wrapped: bytes, bot_id: str) -> DataKey:
        aead = self._by_id.get(master_id)
        if aead is None:
            raise ContentUnreadable(
                f"data key of {bot_id} is wrapped by master key {master_id}, which is not "
                "configured (SITIN_MASTER_KEY / SITIN_PREVIOUS_MASTER_KEYS)"
            )
        try:
            material = aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], bot_id.encode())
        except InvalidTag:
            raise ContentUnreadable(f"data key of {bot_id} does not unwrap") from None
        return DataKey(material)
