"""Retention: the bodies of events every endpoint has received are purged after a while
(`VOXSIG_WEBHOOK_RETENTION_DAYS`, 30 by default); the delivery log itself stays."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import exists, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.kit.clock import utcnow
from voxsig.models import Delivery, Event
from voxsig.models.webhook import SUCCEEDED

PURGED = ""


async def purge_delivered_bodies(session: AsyncSession, days: float) -> int:
    """Empties the body of events older than `days` whose deliveries all succeeded. A failed or
    pending delivery keeps its body, so it can still be retried or replayed."""
    cutoff = utcnow() - timedelta(days=days)
    unsettled = exists().where(Delivery.event_id == Event.id, Delivery.status != SUCCEEDED)
    result = await session.execute(
        update(Event)
        .where(Event.created_at < cutoff, Event.body != PURGED, ~unsettled)
        .values(body=PURGED)
        .returning(Event.id)
    )
    return len(result.all())
