"""Retention: attachments older than `VOXSIG_ATTACHMENT_RETENTION_DAYS` (0, the default, keeps
them forever) lose their files and rows; their messages stay, with their text. The webhook body
retention (outbox/retention.py) is the model: hourly housekeeping beside the worker, idempotent,
so several workers may run it at once.

Each batch deletes its rows in a transaction of its own and then, once that has committed, the
files: a crash in between leaves orphan objects (said in the log when a delete fails), never a
row whose file is gone."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import delete, select

from voxsig.config import Settings
from voxsig.db import Database
from voxsig.files.lifecycle import delete_files, keys_of
from voxsig.files.storage import Storage
from voxsig.files.stores import open_storage
from voxsig.kit.clock import utcnow
from voxsig.models import Attachment

log = logging.getLogger("voxsig.worker")
PURGE_EVERY_SECONDS = 3600
# Rows per transaction: short transactions (SQLite has one writer), few round trips.
BATCH = 500


async def purge_batch(db: Database, storage: Storage, days: float, batch: int = BATCH) -> int:
    """Deletes up to `batch` of the oldest attachments past the cutoff, rows then files;
    returns how many rows went."""
    cutoff = utcnow() - timedelta(days=days)
    oldest = (
        select(Attachment.id)
        .where(Attachment.created_at < cutoff)
        .order_by(Attachment.id)
        .limit(batch)
    )
    async with db.transaction() as session:
        result = await session.execute(
            delete(Attachment)
            .where(Attachment.id.in_(oldest.scalar_subquery()))
            .returning(Attachment.storage_key, Attachment.thumb_key)
        )
        gone = result.all()
    await delete_files(storage, keys_of(gone), "its retention ran out")
    return len(gone)


async def purge_expired(db: Database, storage: Storage, days: float, batch: int = BATCH) -> int:
    """Batch after batch until none is left past the cutoff; returns the rows deleted."""
    total = 0
    while True:
        purged = await purge_batch(db, storage, days, batch)
        total += purged
        if purged:
            log.info(
                "attachment retention: deleted %d attachments older than %g days", purged, days
            )
        if purged < batch:
            return total


async def purge_forever(db: Database, settings: Settings) -> None:
    """Hourly, with a store of its own (`voxsig worker` has no app to borrow one from)."""
    days = settings.attachment_retention_days
    storage = open_storage(settings)
    try:
        while True:
            try:
                await purge_expired(db, storage, days)
            except Exception:  # housekeeping must never stop delivery
                log.exception("attachment retention failed; trying again in an hour")
            await asyncio.sleep(PURGE_EVERY_SECONDS)
    finally:
        await storage.close()
