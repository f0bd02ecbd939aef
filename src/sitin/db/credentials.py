"""Transcription provider API keys per project, encrypted at rest, never logged or returned."""

from sqlalchemy import Connection, select, update

from sitin.crypto import box
from sitin.db.tables import projects

PURPOSE = "provider credentials"
PROVIDERS = ("openai", "deepgram")


def _stored(conn: Connection, project_id: str) -> dict:
    settings = conn.execute(
        select(projects.c.settings).where(projects.c.id == project_id)
    ).scalar_one()
    return dict(settings or {})


def set_key(
    conn: Connection, *, server_key: bytes, project_id: str, provider: str, api_key: str
) -> None:
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; use one of {', '.join(PROVIDERS)}")
    settings = _stored(conn, project_id)
    encrypted = box(server_key, PURPOSE).encrypt(api_key.encode()).decode()
    settings["credentials"] = {**settings.get("credentials", {}), provider: encrypted}
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


def keys_for(conn: Connection, *, server_key: bytes, project_id: str) -> dict[str, str]:
    """Decrypted keys by provider, for building a bot's transcription provider."""
    cipher = box(server_key, PURPOSE)
    return {
        provider: cipher.decrypt(token.encode()).decode()
        for provider, token in _stored(conn, project_id).get("credentials", {}).items()
    }
