"""The delivery log of an endpoint, and sending things again: one delivery, or everything an
endpoint missed since a moment (failed deliveries, and events published while it was disabled)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, insert, select, update
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.db import request_wake_after_commit
from voxsig.errors import Invalid, NotFound
from voxsig.kit.clock import utcnow
from voxsig.kit.tokens import new_message_id, new_webhook_secret
from voxsig.models import Delivery, DeliveryAttempt, Event, Webhook
from voxsig.models.webhook import FAILED, PENDING

PAGE_SIZE = 25
ROTATION_OVERLAP = timedelta(hours=24)


async def list_deliveries(
    session: AsyncSession, webhook: Webhook, status: str | None, event: str | None, page: int
) -> tuple[int, list[tuple[Delivery, Event]]]:
    query = (
        select(Delivery, Event)
        .join(Event, Event.id == Delivery.event_id)
        .where(Delivery.webhook_id == webhook.id)
    )
    if status:
        query = query.where(Delivery.status == status)
    if event:
        query = query.where(Event.name == event)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.execute(
        query.order_by(Delivery.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    )
    return total, [(d, e) for d, e in rows]


async def get_delivery(
    session: AsyncSession, webhook: Webhook, delivery_id: int
) -> tuple[Delivery, Event]:
    row = (
        await session.execute(
            select(Delivery, Event)
            .join(Event, Event.id == Delivery.event_id)
            .where(Delivery.webhook_id == webhook.id, Delivery.id == delivery_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"No delivery {delivery_id} for this webhook", field="delivery_id")
    return row[0], row[1]


async def attempts_of(session: AsyncSession, delivery: Delivery) -> list[DeliveryAttempt]:
    """The delivery's attempts, oldest first, and `delivery` read again after them: on
    PostgreSQL each statement sees what had committed when it began, and an attempt is recorded
    in the same transaction as the status it led to, so the status shown is never older than
    the attempts shown (a 200 beside "pending")."""
    rows = list(
        await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery.id)
            .order_by(DeliveryAttempt.id)
        )
    )
    try:
        await session.refresh(delivery)
    except InvalidRequestError:  # deleted meanwhile, with its webhook
        raise NotFound(f"No delivery {delivery.id} for this webhook", field="delivery_id") from None
    return rows


def _check_enabled(webhook: Webhook) -> None:
    if not webhook.enabled:
        raise Invalid(
            "This webhook is disabled: enable it (PATCH enabled: true) first", field="enabled"
        )


def _again() -> dict[str, Any]:
    """A new round of attempts, due now, same body and webhook-id."""
    return {
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": utcnow(),
        "locked_until": None,
        "updated_at": utcnow(),
    }


async def redeliver(session: AsyncSession, webhook: Webhook, delivery: Delivery) -> None:
    _check_enabled(webhook)
    if delivery.status == PENDING:
        raise Invalid(
            "This delivery is still pending; it will be tried again on its own", field="delivery_id"
        )
    await session.execute(update(Delivery).where(Delivery.id == delivery.id).values(_again()))
    await session.refresh(delivery)
    request_wake_after_commit(session)


async def recover(session: AsyncSession, webhook: Webhook, since: datetime) -> dict[str, int]:
    """Sends again every delivery that failed since `since`, and delivers every event since then
    that the endpoint subscribes to but never got (published while it was disabled)."""
    _check_enabled(webhook)
    failed = await session.execute(
        update(Delivery)
        .where(
            Delivery.webhook_id == webhook.id,
            Delivery.status == FAILED,
            Delivery.updated_at >= since,  # settled as failed since then
        )
        .values(_again())
        .returning(Delivery.id)
    )
    redelivered = len(failed.all())
    query = (
        select(Event.id, Event.conversation_id)
        .where(
            Event.account_id == webhook.account_id,
            Event.created_at >= since,
            Event.name.in_(webhook.subscriptions),
            ~exists().where(Delivery.event_id == Event.id, Delivery.webhook_id == webhook.id),
        )
        .order_by(Event.id)
    )
    if webhook.inbox_id is not None:
        query = query.where(Event.inbox_id == webhook.inbox_id)
    missed = (await session.execute(query)).all()
    if missed:
        await session.execute(
            insert(Delivery),
            [
                {
                    "event_id": event_id,
                    "webhook_id": webhook.id,
                    "message_id": new_message_id(),
                    "ordering_key": conversation_id,
                }
                for event_id, conversation_id in missed
            ],
        )
    request_wake_after_commit(session)
    return {"redelivered": redelivered, "recovered": len(missed)}


def rotate_secret(webhook: Webhook) -> None:
    """The old secret keeps signing beside the new one for 24 hours."""
    webhook.previous_secret = webhook.secret
    webhook.previous_secret_expires_at = utcnow() + ROTATION_OVERLAP
    webhook.secret = new_webhook_secret()


async def success_rate(session: AsyncSession, webhook: Webhook, hours: int = 24) -> float | None:
    """Share of attempts in the last `hours` that succeeded; None without attempts."""
    since = utcnow() - timedelta(hours=hours)
    total, ok = (
        await session.execute(
            select(func.count(), func.count().filter(DeliveryAttempt.error_class.is_(None)))
            .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
            .where(Delivery.webhook_id == webhook.id, DeliveryAttempt.started_at >= since)
        )
    ).one()
    return None if not total else ok / total
