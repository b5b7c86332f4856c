"""Engine and sessions. Only boundaries commit: the request dependency and the worker loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
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

from voxsig import sqlite_connection
from voxsig.kit.json_limits import load_stored

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
        # that every transaction queues for.
        path = make_url(url).database or ":memory:"
        engine = create_async_engine(
            url,
            async_creator=partial(sqlite_connection.connect, path),
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            json_deserializer=load_stored,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # load_stored: a JSON value stored too deep (before the limits) must not fail every read.
    return create_async_engine(
        url, pool_size=10, max_overflow=10, pool_pre_ping=True, json_deserializer=load_stored
    )


class Database:
    """One engine and its session factory, plus the hooks run after a commit."""

    def __init__(self, url: str, session_info: dict[str, Any] | None = None) -> None:
        """`session_info`: what every session starts with in its `info` (a server's file link
        signer, views/attachments.py)."""
        self.url = url
        self.engine = make_engine(url)
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, info=dict(session_info or {})
        )
        self._after_commit: list[Callable[[dict[str, Any]], None]] = []

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    def on_commit(self, hook: Callable[[dict[str, Any]], None]) -> None:
        """Run `hook(session.info)` after each commit of `transaction()`: a side effect that a
        transaction asks for (under a `session.info` key owned by the module that reads it)
        happens only once the change is durable, never for a rolled-back one."""
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
        runs; elsewhere, does nothing. The LISTEN connection is re-opened whenever it is lost
        (a database restart or failover), retrying every RELISTEN_SECONDS; failures are logged,
        not raised: the callers have a slower fallback (polling, a reload)."""
        if self.is_sqlite:
            yield
            return
        dsn = make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
        first_try = asyncio.Event()
        task = asyncio.create_task(_listen_forever(dsn, channel, callback, first_try))
        # Start listening before the caller's first look at the database, so no commit falls
        # between that look and the LISTEN.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first_try.wait(), 5)
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @asynccontextmanager
    async def watching(self, probe: str, callback: Callable[[], None]) -> AsyncIterator[None]:
        """On SQLite, calls `callback()` within WATCH_SECONDS of another connection (another
        process, or this one's pool) committing a change to what `probe` (a query of one cheap
        value) answers, while the block runs. SQLite has no NOTIFY, but `PRAGMA data_version`
        changes whenever another connection commits, and is read from the shared WAL index
        without a lock; `probe` runs only then. Elsewhere, does nothing (see `listening`)."""
        path = make_url(self.url).database if self.is_sqlite else None
        if not path or path == ":memory:":
            yield
            return
        task = asyncio.create_task(_watch(path, probe, callback))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def dispose(self) -> None:
        await self.engine.dispose()


RELISTEN_SECONDS = 1.0


async def _listen_forever(
    dsn: str, channel: str, callback: Callable[[str], None], first_try: asyncio.Event
) -> None:
    """LISTEN on `channel`, and again on a new connection each time the last one is lost."""
    while True:
        try:
            await _listen_once(dsn, channel, callback, first_try)
            log.warning("LISTEN %s: connection lost; listening again", channel)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any connection failure: retry, say why
            log.warning("LISTEN %s failed (%s); retrying", channel, exc)
            first_try.set()
        await asyncio.sleep(RELISTEN_SECONDS)


async def _listen_once(
    dsn: str, channel: str, callback: Callable[[str], None], listening: asyncio.Event
) -> None:
    """LISTEN until the connection is lost (or the task cancelled)."""
    conn: Any = await asyncpg.connect(dsn)
    try:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(channel, lambda *args: callback(args[-1]))
        listening.set()
        await lost.wait()
    finally:
        if not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.shield(conn.close(timeout=2))


WATCH_SECONDS = 0.02


async def _watch(path: str, probe: str, callback: Callable[[], None]) -> None:
    """Polls `PRAGMA data_version` on a connection of its own; when it changes, runs `probe`,
    and calls `callback` if its answer changed too."""
    connection = await sqlite_connection.connect(path)
    try:
        version, value = await connection.run(sqlite_connection.look, probe, None)
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                latest, answer = await connection.run(sqlite_connection.look, probe, version)
            except sqlite3.Error as exc:  # e.g. the file is briefly locked: look again
                log.debug("watching %r failed: %s", probe, exc)
                continue
            if latest != version:
                version = latest
                if answer != value:
                    value = answer
                    callback()
    finally:
        await asyncio.shield(connection.close())
