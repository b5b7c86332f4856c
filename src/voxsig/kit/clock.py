"""Time in one place: UTC, aware datetimes, and the two wire formats of the payload rules."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def unix(moment: datetime | None) -> int:
    """Integer seconds since the epoch; 0 for a moment that never happened."""
    if moment is None:
        return 0
    return int(as_utc(moment).timestamp())


def unix_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else int(as_utc(moment).timestamp())


def iso(moment: datetime) -> str:
    """ISO 8601, UTC, milliseconds: 2026-11-25T13:40:00.000Z."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def as_utc(moment: datetime) -> datetime:
    """Databases may hand back naive datetimes; every stored one is UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def from_unix(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
