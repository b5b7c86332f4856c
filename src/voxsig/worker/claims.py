"""Claiming due deliveries under a lease: in order per conversation, within each endpoint's cap."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from voxsig.kit.clock import utcnow
from voxsig.models import Delivery, Event, Webhook
from voxsig.models.webhook import PENDING


@dataclass(frozen=True)
class Job:
    """A claimed delivery with everything needed to send it, so sending touches no database."""

    delivery_id: int
    webhook_id: int
    message_id: str
    attempts: int
    url: str
    secrets: tuple[str, ...]
    body: str


def _due(now: datetime, busy: Collection[int]) -> Select[int]:
    """Pending, due, unleased deliveries of enabled endpoints, each only if no earlier delivery
    of its conversation to its endpoint is due or in flight (one at a time, in event order; a
    delivery waiting for its retry holds nothing back)."""
    earlier = aliased(Delivery)
    blocked = exists().where(
        earlier.webhook_id == Delivery.webhook_id,
        earlier.ordering_key == Delivery.ordering_key,
        earlier.id < Delivery.id,
        earlier.status == PENDING,
        or_(earlier.next_attempt_at <= now, earlier.locked_until > now),
    )
    query = (
        select(Delivery.id)
        .join(Webhook, Webhook.id == Delivery.webhook_id)
        .where(
            Delivery.status == PENDING,
            Delivery.next_attempt_at <= now,
            or_(Delivery.locked_until.is_(None), Delivery.locked_until < now),
            Webhook.enabled.is_(True),
            or_(Delivery.ordering_key.is_(None), ~blocked),
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
    )
    if busy:
        query = query.where(Delivery.webhook_id.not_in(busy))
    return query


async def claim_due(
    session: AsyncSession,
    limit: int,
    lease_seconds: float,
    room: Mapping[int, int],
    cap: int,
    in_flight: Collection[int] = (),
) -> list[Job]:
    """Leases up to `limit` due deliveries, at most `cap - room[endpoint]` more per endpoint
    (`room` counts what this worker already has in flight per endpoint). Deliveries this worker
    is still sending are never claimed again, even if their lease has run out."""
    now = utcnow()
    due = _due(now, [wid for wid, n in room.items() if n >= cap]).limit(limit)
    if in_flight:
        due = due.where(Delivery.id.not_in(in_flight))
    if session.get_bind().dialect.name == "postgresql":
        # Two workers never claim the same row, and neither waits for the other's locks.
        due = due.with_for_update(of=Delivery, skip_locked=True)
    claimed = (
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(due.scalar_subquery()))
            .values(locked_until=now + timedelta(seconds=lease_seconds))
            .returning(Delivery.id, Delivery.webhook_id, Delivery.next_attempt_at)
        )
    ).all()
    # Oldest due first, as the claim chose them (RETURNING has no order of its own), so a cap
    # keeps the deliveries that have waited longest.
    by_due = sorted(claimed, key=lambda row: (row[2], row[0]))
    keep, excess = _within_cap([(row[0], row[1]) for row in by_due], room, cap)
    if excess:
        await session.execute(
            update(Delivery).where(Delivery.id.in_(excess)).values(locked_until=None)
        )
    if not keep:
        return []
    rows = await session.execute(
        select(
            Delivery.id,
            Delivery.webhook_id,
            Delivery.message_id,
            Delivery.attempts,
            Webhook.url,
            Webhook.secret,
            Webhook.previous_secret,
            Webhook.previous_secret_expires_at,
            Event.body,
        )
        .join(Event, Event.id == Delivery.event_id)
        .join(Webhook, Webhook.id == Delivery.webhook_id)
        .where(Delivery.id.in_(keep))
        .order_by(Delivery.id)
    )
    return [
        Job(did, wid, mid, attempts, url, _secrets(secret, old, expires, now), body)
        for did, wid, mid, attempts, url, secret, old, expires, body in rows
    ]


def _within_cap(
    claimed: list[Any], room: Mapping[int, int], cap: int
) -> tuple[list[int], list[int]]:
    counts = dict(room)
    keep, excess = [], []
    for delivery_id, webhook_id in claimed:
        if counts.get(webhook_id, 0) < cap:
            counts[webhook_id] = counts.get(webhook_id, 0) + 1
            keep.append(delivery_id)
        else:
            excess.append(delivery_id)
    return keep, excess


def _secrets(
    secret: str, previous: str | None, expires: datetime | None, now: datetime
) -> tuple[str, ...]:
    if previous and expires and expires > now:
        return (secret, previous)
    return (secret,)


async def renew_leases(
    session: AsyncSession, delivery_ids: Collection[int], lease_seconds: float
) -> None:
    """Extends the leases of deliveries still being sent, so a slow receiver does not make
    another worker send them again while this one is alive."""
    await session.execute(
        update(Delivery)
        .where(
            Delivery.id.in_(delivery_ids),
            Delivery.status == PENDING,
            Delivery.locked_until.is_not(None),
        )
        .values(locked_until=utcnow() + timedelta(seconds=lease_seconds))
    )
