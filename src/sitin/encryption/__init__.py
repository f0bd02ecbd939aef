"""Captured content at rest: per-bot data keys (crypto-shredding).

Every piece of meeting content sitin stores is sealed under its bot's data key (AES-GCM). The data
keys live in a separate key store, wrapped by the server's master key; delete_data destroys the key,
after which every copy anywhere (WAL, dead tuples, object versions, backups) is unreadable.
"""

from sitin.encryption.aead import ContentUnreadable, DataKey, MasterKeys
from sitin.encryption.keystore import KeyDestroyed, KeyStore

__all__ = ["ContentUnreadable", "DataKey", "KeyDestroyed", "KeyStore", "MasterKeys"]
