"""Datetimes on the wire: ISO-8601 UTC with ``Z``; naive input means UTC."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Attach UTC to a naive datetime (SQLite returns naive ones), convert aware ones."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_wire(value: datetime | None) -> str | None:
    """``2024-01-18T12:34:56Z``, with microseconds only when they are non-zero."""
    if value is None:
        return None
    if value.tzinfo is not None:  # naive means UTC already
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"  # isoformat shows microseconds only when non-zero


def parse_wire(text: str) -> datetime:
    """Parse an ISO-8601 datetime; raises ValueError. Naive values are taken as UTC."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty datetime")
    parsed = datetime.fromisoformat(text.strip().replace("z", "Z"))
    try:
        return as_utc(parsed)
    except OverflowError:  # 9999-12-31T23:59:59-23:59 is after the last datetime in UTC
        raise ValueError(f"{text.strip()} is outside the years 1 to 9999 in UTC") from None


def epoch_ms(value: datetime) -> int:
    return int(as_utc(value).timestamp() * 1000)
