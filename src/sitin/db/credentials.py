"""Transcription provider accounts per project: the API key (encrypted at rest, never logged or
returned) and the endpoint the operator chose, if not the provider's own.

Stored in `projects.settings["credentials"]` as
`{provider: {"key": <Fernet token>, "base_url": url or None}}`.
"""

from typing import Any

from sqlalchemy import Connection, select, update

from sitin.core.transcription_settings import HOSTED_PROVIDERS, ProviderAccount, normalise_base_url
from sitin.crypto import box
from sitin.db.tables import projects

PURPOSE = "provider credentials"
PROVIDERS = HOSTED_PROVIDERS


def _stored(conn: Connection, project_id: str) -> dict:
    settings = conn.execute(
        select(projects.c.settings).where(projects.c.id == project_id)
    ).scalar_one()
    return dict(settings or {})


def _entry(value: Any) -> dict[str, Any]:
    """One provider's stored entry; a bare token is how keys were stored before endpoints."""
    if isinstance(value, str):
        return {"key": value, "base_url": None}
    return value


def set_key(
    conn: Connection,
    *,
    server_key: bytes,
    project_id: str,
    provider: str,
    api_key: str,
    base_url: str | None = None,
) -> None:
    """Store (replace) the project's account for `provider`; `base_url` None means the
    provider's own public endpoint. ValueError for an unknown provider or a non-http(s) URL."""
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; use one of {', '.join(PROVIDERS)}")
    endpoint = None if base_url is None else normalise_base_url(base_url)
    settings = _stored(conn, project_id)
    encrypted = box(server_key, PURPOSE).encrypt(api_key.encode()).decode()
    settings["credentials"] = {
        **settings.get("credentials", {}),
        provider: {"key": encrypted, "base_url": endpoint},
    }
    conn.execute(update(projects).where(projects.c.id == project_id).values(settings=settings))


def remove_key(conn: Connection, *, project_id: str, provider: str) -> bool:
    settings = _stored(conn, project_id)
    credentials = dict(settings.get("credentials", {}))
    if credentials.pop(provider, None) is None:
        return False
    settings["credentials"] = credentials
    conn.execute(update(projects).where(projects.c.id == project_id).values(settings=settings))
    return True


def providers_with_keys(conn: Connection, *, project_id: str) -> list[str]:
    return sorted(_stored(conn, project_id).get("credentials", {}))


def accounts_for(
    conn: Connection, *, server_key: bytes, project_id: str
) -> dict[str, ProviderAccount]:
    """Decrypted accounts by provider, for building a bot's transcription provider."""
    cipher = box(server_key, PURPOSE)
    accounts = {}
    for provider, value in _stored(conn, project_id).get("credentials", {}).items():
        entry = _entry(value)
        accounts[provider] = ProviderAccount(
            api_key=cipher.decrypt(entry["key"].encode()).decode(),
            base_url=entry.get("base_url"),
        )
    return accounts
