"""Worker heartbeats: each running worker keeps a row in `workers` fresh, and a lease held by a
worker whose heartbeat has stopped is taken over at once (claims.py) instead of waited out. A
worker's id names its leases (`deliveries.leased_by`)."""

from __future__ import annotations

import os
import secrets
import socket
from datetime import timedelta

from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.kit.clock import utcnow
from voxsig.models import Worker

# A worker that has not beaten for a day is long gone: its row is only clutter.
FORGOTTEN_AFTER = timedelta(days=1)


def beat_every(takeover_seconds: float) -> float:
    """How often to beat: four times within the takeover window, so one slow beat (a busy
    database) does not make a live worker look dead."""
    return max(0.25, takeover_seconds / 4)


def new_worker_id() -> str:
    """Unique among every worker that ever ran; readable in the log and the database."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


async def register(session: AsyncSession, worker_id: str) -> None:
    now = utcnow()
    await session.execute(
        insert(Worker).values(
            id=worker_id,
            host=socket.gethostname()[:255],
            pid=os.getpid(),
            started_at=now,
            heartbeat_at=now,
        )
    )


async def beat(session: AsyncSession, worker_id: str) -> None:
    """Freshens the heartbeat; re-registers if the row is gone (forgotten while this worker
    was cut off from the database), and clears rows nobody has beaten for a day."""
    now = utcnow()
    result = await session.execute(
        update(Worker).where(Worker.id == worker_id).values(heartbeat_at=now)
    )
    if not getattr(result, "rowcount", 0):
        await register(session, worker_id)
    await session.execute(delete(Worker).where(Worker.heartbeat_at < now - FORGOTTEN_AFTER))


async def forget(session: AsyncSession, worker_id: str) -> None:
    """At a graceful stop: whatever this worker still holds is taken over at once."""
    await session.execute(delete(Worker).where(Worker.id == worker_id))


async def forget_others(session: AsyncSession, worker_id: str) -> int:
    """Only for a worker that knows no other process can be alive (on SQLite, the one holding
    `voxsig.lock`, at its start): every other worker is a dead predecessor, and its leases
    are taken over by the first claim. Returns how many were forgotten."""
    result = await session.execute(delete(Worker).where(Worker.id != worker_id))
    return int(getattr(result, "rowcount", 0) or 0)
