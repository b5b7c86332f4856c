"""Engine and sessions. Only boundaries commit: the request dependency and the worker loop."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

log = logging.getLogger("voxsig.db")


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> AsyncEngine:
    if is_sqlite(url):
        # SQLite has one write lock: a pool that fights over it is slower than one connection
        # that every transaction queues for (measured in design.md: 530 vs 440 requests/s).
        engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


class Database:
    """One engine and its session factory, plus the hooks run after a commit."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._after_commit: list[Callable[[dict[str, Any]], None]] = []

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    def on_commit(self, hook: Callable[[dict[str, Any]], None]) -> None:
        """Run `hook(session.info)` after each commit: side effects (waking the worker, live
        updates) happen only once the change is durable, never for a rolled-back one."""
        self._after_commit.append(hook)

    def committed(self, info: dict[str, Any]) -> None:
        for hook in self._after_commit:
            hook(info)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed on success and rolled back on any error."""
        async with self.sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        self.committed(session.info)

    @asynccontextmanager
    async def listening(self, channel: str, callback: Callable[[str], None]) -> AsyncIterator[None]:
        """On PostgreSQL, calls `callback(payload)` for each NOTIFY on `channel` while the block
        runs; elsewhere, does nothing. A failure to LISTEN is logged, not raised: the callers
        have a slower fallback (polling, a reload)."""
        if self.is_sqlite:
            yield
            return
        dsn = make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn: Any = None
        try:
            conn = await asyncpg.connect(dsn)
            await conn.add_listener(channel, lambda *args: callback(args[-1]))
        except Exception as exc:  # any connection failure: fall back, say why
            log.warning("LISTEN %s failed (%s); falling back", channel, exc)
        try:
            yield
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2)

    async def dispose(self) -> None:
        await self.engine.dispose()


def request_wake_after_commit(session: AsyncSession) -> None:
    """Mark the transaction so the delivery worker is woken once it commits."""
    session.info["wake_worker"] = True
