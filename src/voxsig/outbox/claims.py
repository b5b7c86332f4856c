"""Claiming due deliveries under a lease: in order per conversation, within each endpoint's cap."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, bindparam, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from voxsig.kit.clock import utcnow
from voxsig.models import Delivery, Event
from voxsig.models.webhook import PENDING
from voxsig.outbox import endpoints
from voxsig.outbox.endpoints import Endpoint


# What recording an outcome (or starting a new round) writes: no lease, so the next claim sees
# an ordinary send, not an interrupted one.
UNLEASED: dict[str, None] = {"locked_until": None, "leased_by": None, "leased_at": None}


@dataclass(frozen=True)
class Job:
    """A claimed delivery with everything needed to send it, so sending touches no database."""

    delivery_id: int
    endpoint: Endpoint
    message_id: str
    attempts: int
    body: str


def _due_ids(*, locking: bool) -> Select[int]:
    """Pending, due, unleased deliveries of enabled endpoints, oldest due first, each only if no
    earlier delivery of its conversation to its endpoint is due or in flight (one at a time, in
    event order; a delivery waiting for its retry holds nothing back); none of an endpoint in
    `busy` (at its cap) nor any `in_flight` one. Bound: now, busy, in_flight, limit."""
    now = bindparam("now", type_=Delivery.next_attempt_at.type)
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
        .join(endpoints.TABLE, endpoints.TABLE.id == Delivery.webhook_id)
        .where(
            Delivery.status == PENDING,
            Delivery.next_attempt_at <= now,
            or_(Delivery.locked_until.is_(None), Delivery.locked_until < now),
            endpoints.TABLE.enabled.is_(True),
            or_(Delivery.ordering_key.is_(None), ~blocked),
            Delivery.webhook_id.not_in(bindparam("busy", expanding=True)),
            Delivery.id.not_in(bindparam("in_flight", expanding=True)),
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(bindparam("limit"))
    )
    if locking:
        # PostgreSQL: two workers never take the same row, and neither waits for the other.
        query = query.with_for_update(of=Delivery, skip_locked=True)
    return query


def _candidates(due: Select[int]) -> Select[*tuple[Any, ...]]:
    """The due deliveries with everything sending needs, oldest due first."""
    return (
        select(
            Delivery.id,
            Delivery.webhook_id,
            Delivery.message_id,
            Delivery.attempts,
            Event.body,
            *endpoints.SENDING,
        )
        .join(Event, Event.id == Delivery.event_id)
        .join(endpoints.TABLE, endpoints.TABLE.id == Delivery.webhook_id)
        .where(Delivery.id.in_(due.scalar_subquery()))
        .order_by(Delivery.next_attempt_at, Delivery.id)
    )


# Built once: the worker claims many times a second, and building these statements costs more
# CPU than running them.
_CANDIDATES = _candidates(_due_ids(locking=False))
_CANDIDATES_LOCKING = _candidates(_due_ids(locking=True))
_LEASE = (
    update(Delivery)
    .where(Delivery.id.in_(bindparam("ids", expanding=True)))
    .values(locked_until=bindparam("until", type_=Delivery.locked_until.type))
)


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
    is still sending are never claimed again, even if their lease has run out. Only what is
    kept is written: the other candidates stay as they were (on PostgreSQL, locked until this
    transaction ends, so no other worker takes them meanwhile)."""
    now = utcnow()
    locking = session.get_bind().dialect.name == "postgresql"
    # Core statements on the session's connection: no ORM objects, none of the ORM's overhead.
    connection = await session.connection()
    rows = await connection.execute(
        _CANDIDATES_LOCKING if locking else _CANDIDATES,
        {
            "now": now,
            "busy": [wid for wid, n in room.items() if n >= cap],
            "in_flight": list(in_flight),
            "limit": limit,
        },
    )
    counts = dict(room)
    jobs = []
    for did, wid, mid, attempts, body, url, secret, previous, expires in rows:
        if counts.get(wid, 0) >= cap:
            continue  # the endpoint is at its cap: left for a later claim
        counts[wid] = counts.get(wid, 0) + 1
        endpoint = endpoints.to_send(wid, url, secret, previous, expires, now)
        jobs.append(Job(did, endpoint, mid, attempts, body))
    if jobs:
        until = now + timedelta(seconds=lease_seconds)
        await connection.execute(_LEASE, {"ids": [j.delivery_id for j in jobs], "until": until})
    return jobs


async def release_all_leases(session: AsyncSession) -> int:
    """Ends every lease at once, so what they held is claimable now. Only for a worker that
    knows no other process can hold a lease: on SQLite, the one holding `voxsig.lock`, at its
    start (the leases are a dead predecessor's, and would otherwise be waited out). Returns how
    many were released."""
    result = await session.execute(
        update(Delivery)
        .where(Delivery.status == PENDING, Delivery.locked_until.is_not(None))
        .values(locked_until=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


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
