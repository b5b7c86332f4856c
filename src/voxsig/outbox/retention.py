"""Retention: the bodies of events every endpoint has received are purged after a while
(`VOXSIG_WEBHOOK_RETENTION_DAYS`, 30 by default); the delivery log itself stays."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import exists, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.db import Database
from voxsig.kit.clock import utcnow
from voxsig.models import Delivery, Event
from voxsig.models.webhook import SUCCEEDED

log = logging.getLogger("voxsig.worker")
PURGED = ""
PURGE_EVERY_SECONDS = 3600


async def purge_delivered_bodies(session: AsyncSession, days: float) -> int:
    """Empties the body of events older than `days` whose deliveries all succeeded. A failed or
    pending delivery keeps its body, so it can still be retried or replayed."""
    cutoff = utcnow() - timedelta(days=days)
    unsettled = exists().where(Delivery.event_id == Event.id, Delivery.status != SUCCEEDED)
    result = await session.execute(
        update(Event)
        .where(Event.created_at < cutoff, Event.body != PURGED, ~unsettled)
        .values(body=PURGED, chatwoot_body=None)
        .returning(Event.id)
    )
    return len(result.all())


async def purge_forever(db: Database, days: float) -> None:
    """Hourly housekeeping beside the worker (idempotent, so several workers may run it)."""
    while True:
        try:
            async with db.transaction() as session:
                purged = await purge_delivered_bodies(session, days)
            if purged:
                log.info("purged the bodies of %d delivered events", purged)
        except Exception:  # housekeeping must never stop delivery
            log.exception("retention purge failed; trying again in an hour")
        await asyncio.sleep(PURGE_EVERY_SECONDS)
