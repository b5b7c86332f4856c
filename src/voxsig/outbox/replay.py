"""Sending things again: one delivery, or everything an endpoint missed since a moment (the
deliveries that failed, and the events published while it was disabled)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.errors import Invalid
from voxsig.kit.clock import utcnow
from voxsig.models import Delivery, Event
from voxsig.models.webhook import FAILED, PENDING
from voxsig.outbox import claims, endpoints
from voxsig.outbox.endpoints import Subscriber
from voxsig.outbox.publish import queue
from voxsig.outbox.wake import wake_after_commit


def _check_enabled(endpoint: Subscriber) -> None:
    if not endpoint.enabled:
        raise Invalid(
            "This webhook is disabled: enable it (PATCH enabled: true) first", field="enabled"
        )


def _again() -> dict[str, Any]:
    """A new round of attempts, due now, same body and webhook-id."""
    return {
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": utcnow(),
        **claims.UNLEASED,
        "updated_at": utcnow(),
    }


async def redeliver(session: AsyncSession, endpoint: Subscriber, delivery: Delivery) -> None:
    _check_enabled(endpoint)
    if delivery.status == PENDING:
        raise Invalid(
            "This delivery is still pending; it will be tried again on its own", field="delivery_id"
        )
    await session.execute(update(Delivery).where(Delivery.id == delivery.id).values(_again()))
    await session.refresh(delivery)
    await wake_after_commit(session)


async def recover(session: AsyncSession, endpoint: Subscriber, since: datetime) -> dict[str, int]:
    """Sends again every delivery that failed since `since`, and delivers every event since then
    that the endpoint subscribes to but never got (published while it was disabled). The
    endpoint's comeback offer goes if this covers it."""
    _check_enabled(endpoint)
    failed = await session.execute(
        update(Delivery)
        .where(
            Delivery.webhook_id == endpoint.id,
            Delivery.status == FAILED,
            Delivery.updated_at >= since,  # settled as failed since then
        )
        .values(_again())
        .returning(Delivery.id)
    )
    redelivered = len(failed.all())
    if redelivered:
        await wake_after_commit(session)
    query = (
        select(Event.id, Event.conversation_id)
        .where(
            Event.account_id == endpoint.account_id,
            Event.created_at >= since,
            Event.name.in_(endpoint.subscriptions),
            ~exists().where(Delivery.event_id == Event.id, Delivery.webhook_id == endpoint.id),
            endpoints.sees(endpoint),
        )
        .order_by(Event.id)
    )
    missed = await session.execute(query)
    # In the endpoint's format now; an event published when no endpoint wanted that format has
    # only its `voxsig` body, which is then what it gets.
    recovered = await queue(
        session, [(eid, endpoint.id, cid, endpoint.payload_format) for eid, cid in missed]
    )
    await endpoints.offer_taken(session, endpoint.id, since)
    return {"redelivered": redelivered, "recovered": recovered}
