"""Starting a worker: in-process beside the API (`voxsig serve`) or alone (`voxsig worker`).
Wake-ups are pushes: an in-process signal after each commit, and for commits made by other
processes, a LISTEN on the channel that publishing NOTIFYs (PostgreSQL) or a watch on SQLite's
data_version. The poll (VOXSIG_WORKER_POLL_SECONDS) finds retries as they come due."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from voxsig.config import Settings
from voxsig.db import Database
from voxsig.files import retention as attachment_retention
from voxsig.outbox import heartbeat
from voxsig.outbox.loop import Worker
from voxsig.outbox.netguard import parse_networks
from voxsig.outbox.outcomes import GaveUp
from voxsig.outbox.policy import Policy
from voxsig.outbox.retention import purge_forever
from voxsig.outbox.transport import Limits, Transport
from voxsig.outbox.wake import CHANNEL, wake_on_commit

log = logging.getLogger("voxsig.worker")
# On SQLite, a new delivery committed by another process wakes the worker; its own leases and
# records, which change no such id, do not.
NEWEST_DELIVERY = "SELECT max(id) FROM deliveries"


def build_worker(settings: Settings, db: Database, gave_up: GaveUp | None = None) -> Worker:
    policy = Policy.from_settings(settings)
    limits = Limits(
        connect_timeout=policy.connect_timeout,
        total_timeout=policy.total_timeout,
        max_in_flight=settings.webhook_max_in_flight,
    )
    transport = Transport(parse_networks(settings.webhook_allowed_networks), limits)
    worker = Worker(
        db,
        transport,
        policy,
        max_in_flight=settings.webhook_max_in_flight,
        max_per_endpoint=settings.webhook_max_per_endpoint,
        poll_seconds=settings.worker_poll_seconds,
        gave_up=gave_up,
    )
    wake_on_commit(db, worker.wake)
    return worker


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings, db: Database, *, sole_worker: bool = False, gave_up: GaveUp | None = None
) -> AsyncIterator[Worker]:
    """Runs a worker for the duration of the block, then stops it gracefully. `sole_worker`:
    this process holds SQLite's `voxsig.lock`, so no other can hold a lease; every worker on
    record is a dead predecessor, forgotten before the first claim, so its leases are taken
    over at once instead of waited out. `gave_up` hears of deliveries that failed for good."""
    worker = build_worker(settings, db, gave_up)
    if sole_worker:
        async with db.transaction() as session:
            forgotten = await heartbeat.forget_others(session, worker.id)
        if forgotten:
            log.warning("taking over the leases of %d stopped worker(s)", forgotten)
    async with (
        db.listening(CHANNEL, lambda _payload: worker.wake()),
        db.watching(NEWEST_DELIVERY, worker.wake),
    ):
        task = asyncio.create_task(worker.run())
        housekeeping = [asyncio.create_task(purge_forever(db, settings.webhook_retention_days))]
        if settings.attachment_retention_days > 0:  # 0: attachments are kept forever
            housekeeping.append(
                asyncio.create_task(attachment_retention.purge_forever(db, settings))
            )
        try:
            yield worker
        finally:
            for task in housekeeping:
                task.cancel()
            await worker.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await worker.transport.close()


async def run_forever(
    settings: Settings,
    *,
    sole_worker: bool = False,
    gave_up: GaveUp | None = None,
    session_info: dict[str, Any] | None = None,
) -> None:
    """`session_info`: for the sessions of `gave_up` (the caller's, like the hook)."""
    db = Database(settings.resolved_database_url(), session_info)
    try:
        async with running_worker(settings, db, sole_worker=sole_worker, gave_up=gave_up):
            await asyncio.Event().wait()
    finally:
        await db.dispose()
