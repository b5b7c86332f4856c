"""How far behind an endpoint is: what is pending, since when, and how long it would take to
drain at the rate the endpoint took deliveries lately (issue 13.4: a slow endpoint falls behind
within its cap; the operator should see it, not find out from the receiver)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.kit.clock import as_utc, utcnow
from voxsig.models import Delivery, Webhook
from voxsig.models.webhook import PENDING, SUCCEEDED
from voxsig.views.webhooks import RATE_WINDOW, Backlog, Standing
from voxsig.webhooks.deliveries import failed_since_offers


async def backlogs(session: AsyncSession, webhook_ids: Collection[int]) -> dict[int, Backlog]:
    """Two grouped queries for any number of endpoints (index ix_deliveries_endpoint_status);
    an endpoint with nothing pending and nothing delivered lately is absent."""
    if not webhook_ids:
        return {}
    ids = list(webhook_ids)
    pending = await session.execute(
        select(Delivery.webhook_id, func.count(), func.min(Delivery.created_at))
        .where(Delivery.webhook_id.in_(ids), Delivery.status == PENDING)
        .group_by(Delivery.webhook_id)
    )
    now = utcnow()
    delivered = await session.execute(
        select(Delivery.webhook_id, func.count(), func.min(Delivery.updated_at))
        .where(
            Delivery.webhook_id.in_(ids),
            Delivery.status == SUCCEEDED,
            Delivery.updated_at >= now - RATE_WINDOW,
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
