"""Claiming due deliveries under a lease: in order per conversation, within each endpoint's cap.
A lease ends with an outcome, when it runs out, or when its worker's heartbeat stops
(heartbeat.py); the claim that takes a delivery whose lease ended without an outcome records an
`interrupted` attempt first, so the log shows the receiver may have it twice."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, case, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from voxsig.kit.clock import utcnow
from voxsig.models import Delivery, DeliveryAttempt, Event, Worker
from voxsig.models.webhook import CHATWOOT_FORMAT, PENDING
from voxsig.outbox import endpoints
from voxsig.outbox.endpoints import Endpoint

# What recording an outcome (or starting a new round) writes: no lease, so the next claim sees
# an ordinary send, not an interrupted one.
UNLEASED: dict[str, None] = {"locked_until": None, "leased_by": None, "leased_at": None}


INTERRUPTED = "interrupted"  # the error class of an attempt whose outcome nobody recorded


@dataclass(frozen=True)
class Lease:
    """Who claims, and how long its leases last: `seconds`, or until its heartbeat is older
    than `takeover_seconds`."""

    worker_id: str
    seconds: float
    takeover_seconds: float


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
    `busy` (at its cap) nor any `in_flight` one. A lease holds until it runs out, or until its
    worker's heartbeat is older than `alive_since`. Bound: now, alive_since, busy, in_flight,
    limit."""
    now = bindparam("now", type_=Delivery.next_attempt_at.type)
    alive_since = bindparam("alive_since", type_=Worker.heartbeat_at.type)
    holder_alive = exists().where(
        Worker.id == Delivery.leased_by, Worker.heartbeat_at >= alive_since
    )
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
            or_(Delivery.locked_until.is_(None), Delivery.locked_until < now, ~holder_alive),
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


# The body in the delivery's format (an event with no body in that format has the `voxsig` one).
_BODY = case(
    (Delivery.payload_format == CHATWOOT_FORMAT, func.coalesce(Event.chatwoot_body, Event.body)),
    else_=Event.body,
)


def _candidates(due: Select[int]) -> Select[*tuple[Any, ...]]:
    """The due deliveries with everything sending needs, oldest due first."""
    return (
        select(
            Delivery.id,
            Delivery.webhook_id,
            Delivery.message_id,
            Delivery.attempts,
            Delivery.locked_until,
            Delivery.leased_by,
            Delivery.leased_at,
            _BODY,
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
    .values(
        locked_until=bindparam("until", type_=Delivery.locked_until.type),
        leased_by=bindparam("worker_id"),
        leased_at=bindparam("now", type_=Delivery.leased_at.type),
    )
)
_ATTEMPTS = insert(DeliveryAttempt)


async def claim_due(
    session: AsyncSession,
    limit: int,
    lease: Lease,
    room: Mapping[int, int],
    cap: int,
    in_flight: Collection[int] = (),
    caps: Mapping[int, int] | None = None,
) -> list[Job]:
    """Leases up to `limit` due deliveries, at most `cap - room[endpoint]` more per endpoint
    (`room` counts what this worker already has in flight per endpoint; `cap` is the default,
    an endpoint's own `max_in_flight` replaces it, and `caps` holds those already known, so an
    endpoint at its own cap is skipped by the query itself). Deliveries this worker
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
            "alive_since": now - timedelta(seconds=lease.takeover_seconds),
            "busy": [wid for wid, n in room.items() if n >= (caps or {}).get(wid, cap)],
            "in_flight": list(in_flight),
            "limit": limit,
        },
    )
    counts = dict(room)
    jobs, interrupted = [], []
    for did, wid, mid, attempts, until, holder, since, body, *sending in rows:
        url, secret, previous, expires, own_cap, kind = sending
        if counts.get(wid, 0) >= (own_cap or cap):
            continue  # the endpoint is at its cap: left for a later claim
        counts[wid] = counts.get(wid, 0) + 1
        endpoint = endpoints.to_send(wid, url, secret, previous, expires, own_cap, kind, now)
        jobs.append(Job(did, endpoint, mid, attempts, body))
        if until is not None:
            interrupted.append(_interrupted(did, until, holder, since, now))
    if jobs:
        await connection.execute(
            _LEASE,
            {
                "ids": [j.delivery_id for j in jobs],
                "until": now + timedelta(seconds=lease.seconds),
                "worker_id": lease.worker_id,
                "now": now,
            },
        )
    if interrupted:
        # Only a takeover writes this: the normal path pays nothing for it.
        await connection.execute(_ATTEMPTS, interrupted)
    return jobs


def _interrupted(
    delivery_id: int, until: datetime, holder: str | None, since: datetime | None, now: datetime
) -> dict[str, Any]:
    """The attempt row of a send whose lease ended without an outcome: it may have reached
    the receiver (at least once: it is sent again with the same webhook-id). Its duration is
    from the claim to the takeover. Not counted in the retry schedule's attempts."""
    who = f"worker {holder}" if holder else "a worker"
    if until < now:
        why = f"the lease of {who} ran out before it recorded an outcome"
    else:
        why = f"{who} stopped (its heartbeat is gone) before it recorded an outcome"
    started = since or now
    return {
        "delivery_id": delivery_id,
        "started_at": started,
        "duration_ms": max(0, int((now - started).total_seconds() * 1000)),
        "response_status": None,
        "response_headers": {},
        "response_body": "",
        "error_class": INTERRUPTED,
        "error_message": (
            f"Interrupted: {why}; the receiver may have got it, so it is sent again with the "
            "same webhook-id"
        )[:1000],
    }


async def renew_leases(session: AsyncSession, delivery_ids: Collection[int], lease: Lease) -> None:
    """Extends the leases of deliveries still being sent, so a slow receiver does not make
    another worker send them again while this one is alive; never one another worker has
    taken over meanwhile."""
    await session.execute(
        update(Delivery)
        .where(
            Delivery.id.in_(delivery_ids),
            Delivery.status == PENDING,
            Delivery.leased_by == lease.worker_id,
        )
        .values(locked_until=utcnow() + timedelta(seconds=lease.seconds))
    )
