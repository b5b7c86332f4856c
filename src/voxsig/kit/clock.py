"""Time in one place: UTC, aware datetimes, and every wire format the API answers in.

Renderers call these, never `.isoformat()` or `.timestamp()` themselves. Two ISO forms coexist
and both stay: `iso` is the `datetime` of the payload rules (docs/payloads.md: webhook event
bodies, contact_inbox, the delivery log); `iso_offset` is what the webhook and inbox resources
have answered since their first release (`created_at`, `updated_at`, `disabled_at`): one form
for both would change answers."""

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


def iso_offset(moment: datetime) -> str:
    """ISO 8601, UTC, microseconds, an offset: 2026-11-25T13:40:00.123456+00:00."""
    return as_utc(moment).isoformat()


def iso_offset_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else iso_offset(moment)


def as_utc(moment: datetime) -> datetime:
    """Databases may hand back naive datetimes; every stored one is UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def from_unix(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
