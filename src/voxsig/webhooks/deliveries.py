"""The delivery log of a webhook (what was sent, each attempt, the success rate, what failed
since its comeback offer) and the rotation of its secret (or key). Sending again is the outbox's
(outbox/replay.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.errors import NotFound
from voxsig.kit.clock import utcnow
from voxsig.models import Delivery, DeliveryAttempt, Event, Webhook
from voxsig.models.webhook import ASYMMETRIC, FAILED, SYMMETRIC, Signing
from voxsig.outbox.signing import new_secret

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


def rotate_secret(webhook: Webhook, signing: Signing | None = None) -> None:
    """The old secret keeps signing beside the new one for 24 hours. The new one is of the
    endpoint's kind, or of `signing` when it switches (a `v1` beside a `v1a` meanwhile)."""
    kind: Signing = signing or (ASYMMETRIC if webhook.signing == ASYMMETRIC else SYMMETRIC)
    webhook.previous_secret = webhook.secret
    webhook.previous_secret_expires_at = utcnow() + ROTATION_OVERLAP
    webhook.secret = new_secret(kind)
    webhook.signing = kind


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


async def failed_since_offers(session: AsyncSession, webhooks: Iterable[Webhook]) -> dict[int, int]:
    """For each webhook with a comeback offer, how many of its deliveries failed since the
    offer's start: what accepting it (`recover` from there) sends again. One grouped query for
    them all, and none when no webhook has an offer (the usual case)."""
    offered = [w.id for w in webhooks if w.recovery_offer_since is not None]
    if not offered:
        return {}
    rows = await session.execute(
        select(Delivery.webhook_id, func.count())
        .join(Webhook, Webhook.id == Delivery.webhook_id)
        .where(
            Delivery.webhook_id.in_(offered),
            Delivery.status == FAILED,
            Delivery.updated_at >= Webhook.recovery_offer_since,  # as `recover` selects them
        )
        .group_by(Delivery.webhook_id)
    )
    return {webhook_id: count for webhook_id, count in rows}
