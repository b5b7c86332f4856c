"""How far behind an endpoint is: what is pending, since when, and how long it would take to
drain at the rate the endpoint took deliveries lately (issue 13.4: a slow endpoint falls behind
within its cap; the operator should see it, not find out from the receiver)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.kit.clock import as_utc, utcnow
from voxsig.models import Delivery, DeliveryAttempt, Webhook
from voxsig.models.webhook import PENDING
from voxsig.views.webhooks import RATE_WINDOW, Backlog, Standing
from voxsig.webhooks.deliveries import failed_since_offers


async def backlogs(session: AsyncSession, webhook_ids: Collection[int]) -> dict[int, Backlog]:
    """Two grouped queries for any number of endpoints; an endpoint with nothing pending and
    nothing delivered lately is absent. Pending: through ix_deliveries_due, so it reads the
    installation's pending deliveries (what the worker claims from anyway). Delivered: the
    successful attempts of the last RATE_WINDOW, through ix_delivery_attempts_started_at."""
    if not webhook_ids:
        return {}
    ids = list(webhook_ids)
    pending = await session.execute(
        select(Delivery.webhook_id, func.count(), func.min(Delivery.created_at))
        .where(Delivery.status == PENDING, Delivery.webhook_id.in_(ids))
        .group_by(Delivery.webhook_id)
    )
    now = utcnow()
    delivered = await session.execute(
        select(
            Delivery.webhook_id,
            func.count(DeliveryAttempt.delivery_id.distinct()),
            func.min(DeliveryAttempt.started_at),
        )
        .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
        .where(
            DeliveryAttempt.started_at >= now - RATE_WINDOW,
            DeliveryAttempt.error_class.is_(None),  # a success: every failure has its class
            Delivery.webhook_id.in_(ids),
        )
        .group_by(Delivery.webhook_id)
    )
    found = {wid: Backlog(count, oldest) for wid, count, oldest in pending}
    for wid, count, first in delivered:
        before = found.get(wid, Backlog())
        found[wid] = Backlog(before.pending, before.oldest_pending_at, count, now - as_utc(first))
    return found


async def standings(
    session: AsyncSession, webhooks: Sequence[Webhook], default_max_in_flight: int
) -> dict[int, Standing]:
    """What each webhook's answer tells of its deliveries, in three queries for them all."""
    behind = await backlogs(session, [w.id for w in webhooks])
    failed = await failed_since_offers(session, webhooks)
    return {
        w.id: Standing(behind.get(w.id, Backlog()), failed.get(w.id, 0), default_max_in_flight)
        for w in webhooks
    }
