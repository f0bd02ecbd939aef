"""Transcription provider accounts per project: the API key and the endpoint the operator chose,
if not the provider's own — both encrypted at rest (an endpoint can name an internal host or
carry credentials), never logged or returned.

Stored in `projects.settings["credentials"]` as
`{provider: {"account": <Fernet token of {"key": …, "base_url": url or null}>}}`.
"""

import json
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
    account = json.dumps({"key": api_key, "base_url": endpoint}).encode()
    encrypted = box(server_key, PURPOSE).encrypt(account).decode()
    settings["credentials"] = {**settings.get("credentials", {}), provider: {"account": encrypted}}
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

    def decrypt(token: str) -> str:
        return cipher.decrypt(token.encode()).decode()

    def account(value: Any) -> ProviderAccount:
        if isinstance(value, str):  # stored before endpoints existed: the key's token alone
            return ProviderAccount(api_key=decrypt(value))
        if "account" not in value:  # stored before endpoints were encrypted
            return ProviderAccount(api_key=decrypt(value["key"]), base_url=value.get("base_url"))
        fields = json.loads(decrypt(value["account"]))
        return ProviderAccount(api_key=fields["key"], base_url=fields["base_url"])

    stored = _stored(conn, project_id).get("credentials", {})
    return {provider: account(value) for provider, value in stored.items()}
