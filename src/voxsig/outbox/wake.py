"""Waking the worker once a transaction that gave it work commits, and only then.

In this process, a mark in `session.info` that the hook registered by `wake_on_commit` reads
after the commit (`Database.on_commit`). In other processes (`voxsig worker`), on PostgreSQL a
NOTIFY on `CHANNEL`, which PostgreSQL too delivers only on commit; on SQLite their watch on
the newest delivery id (runtime.py) sees the commit.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.db import Database

CHANNEL = "voxsig_deliveries"
# session.info key: this transaction gave the worker something to send.
WAKE = "voxsig.outbox.wake"


async def wake_after_commit(session: AsyncSession) -> None:
    session.info[WAKE] = True
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"NOTIFY {CHANNEL}"))


def wake_on_commit(db: Database, wake: Callable[[], None]) -> None:
    """Calls `wake()` after each commit of `db` that `wake_after_commit` marked."""
    db.on_commit(lambda info: wake() if info.get(WAKE) else None)
