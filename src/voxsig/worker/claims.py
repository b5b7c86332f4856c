"""Claiming due deliveries under a lease, and recording what their attempts came to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.kit.clock import from_unix, utcnow
from voxsig.models import Delivery, DeliveryAttempt, Event, Webhook
from voxsig.models.webhook import FAILED, PENDING, SUCCEEDED
from voxsig.webhooks.policy import Policy
from voxsig.webhooks.transport import Outcome


@dataclass(frozen=True)
class Job:
    """A claimed delivery with everything needed to send it, so sending touches no database."""

    delivery_id: int
    message_id: str
    attempts: int
    url: str
    secret: str
    body: str


async def claim_due(session: AsyncSession, limit: int, lease_seconds: float) -> list[Job]:
    now = utcnow()
    due = (
        select(Delivery.id)
        .where(
            Delivery.status == PENDING,
            Delivery.next_attempt_at <= now,
            or_(Delivery.locked_until.is_(None), Delivery.locked_until < now),
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Two workers never claim the same row, and neither waits for the other's locks.
        due = due.with_for_update(skip_locked=True)
    claimed = (
        await session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(due.scalar_subquery()))
            .values(locked_until=now + timedelta(seconds=lease_seconds))
            .returning(Delivery.id)
        )
    ).all()
    if not claimed:
        return []
    rows = await session.execute(
        select(
            Delivery.id,
            Delivery.message_id,
            Delivery.attempts,
            Webhook.url,
            Webhook.secret,
            Event.body,
        )
        .join(Event, Event.id == Delivery.event_id)
        .join(Webhook, Webhook.id == Delivery.webhook_id)
        .where(Delivery.id.in_(claimed))
        .order_by(Delivery.id)
    )
    return [Job(*row) for row in rows]


async def record(session: AsyncSession, job: Job, outcome: Outcome, policy: Policy) -> None:
    """Stores the attempt and settles the delivery: succeeded, retried later, or failed."""
    session.add(
        DeliveryAttempt(
            delivery_id=job.delivery_id,
            started_at=from_unix(outcome.started_at),
            duration_ms=outcome.duration_ms,
            response_status=outcome.status,
            response_headers=outcome.headers,
            response_body=outcome.body,
            error_class=outcome.error_class,
            error_message=outcome.error_message,
        )
    )
    attempts = job.attempts + 1
    values: dict[str, object] = {"attempts": attempts, "locked_until": None, "updated_at": utcnow()}
    if outcome.succeeded:
        values["status"] = SUCCEEDED
    else:
        delay = policy.retry_delay(attempts)
        if delay is None:
            values["status"] = FAILED
        else:
            values["next_attempt_at"] = utcnow() + timedelta(seconds=delay)
    await session.execute(update(Delivery).where(Delivery.id == job.delivery_id).values(values))
