"""SQLite under asyncio with one thread round trip per statement.

aiosqlite runs every sqlite3 call on its connection's own thread. SQLAlchemy's adapter makes
four such calls per statement (open a cursor, execute, fetch the rows, close the cursor), and
each is a round trip from the event loop to that thread and back, which under load also waits
behind whatever else the loop has to do. Voxsig's SQLite has one connection (one writer), held
for a whole transaction, so those waits are paid by every request queued behind it. This
connection runs a statement whole (execute, fetch every row, close) in one call on the thread:
a quarter of the round trips, the same sqlite3 underneath.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

import aiosqlite

Row = tuple[Any, ...]


class _Outcome:
    """What one statement left behind: its rows (all of them) and the cursor's attributes."""

    __slots__ = ("description", "lastrowid", "rowcount", "rows")

    def __init__(self, cursor: sqlite3.Cursor, rows: list[Row]) -> None:
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid
        self.rows = rows


def _execute(
    connection: sqlite3.Connection, sql: str, parameters: Sequence[Any] | dict[str, Any]
) -> _Outcome:
    cursor = connection.cursor()
    try:
        cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return _Outcome(cursor, rows)
    finally:
        cursor.close()


def _executemany(connection: sqlite3.Connection, sql: str, parameters: Iterable[Any]) -> _Outcome:
    cursor = connection.cursor()
    try:
        cursor.executemany(sql, parameters)
        return _Outcome(cursor, [])
    finally:
        cursor.close()


def look(connection: sqlite3.Connection, probe: str, version: int | None) -> tuple[int, Any]:
    """`PRAGMA data_version` (it changes whenever another connection commits), and what the
    one-value query `probe` answers, asked only if the version is not `version` any more."""
    latest = int(connection.execute("PRAGMA data_version").fetchone()[0])
    if latest == version:
        return latest, None
    return latest, connection.execute(probe).fetchone()[0]


class Cursor:
    """The cursor SQLAlchemy's aiosqlite adapter drives, with its rows already fetched."""

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self._rows: deque[Row] = deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def _keep(self, outcome: _Outcome) -> Cursor:
        self.description = outcome.description
        self.rowcount = outcome.rowcount
        self.lastrowid = outcome.lastrowid
        self._rows = deque(outcome.rows)
        return self

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> Cursor:
        return self._keep(await self._connection.run(_execute, sql, parameters))

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        return self._keep(await self._connection.run(_executemany, sql, parameters))

    async def fetchone(self) -> Row | None:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Row]:
        count = min(size or self.arraysize, len(self._rows))
        return [self._rows.popleft() for _ in range(count)]

    async def fetchall(self) -> list[Row]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        self._rows.clear()


class OneTripConnection(aiosqlite.Connection):
    """aiosqlite's connection (its thread, commit, rollback, close) with one-trip cursors."""

    def cursor(self) -> Cursor:  # type: ignore[override]
        return Cursor(self)

    async def run(self, fn: Any, *args: Any) -> Any:
        """`fn(sqlite3_connection, *args)` on the connection's thread."""
        return await self._execute(partial(fn, self._conn, *args))  # type: ignore[no-untyped-call]


async def connect(path: str) -> OneTripConnection:
    # As aiosqlite.connect, and sqlite3's defaults as SQLAlchemy's pysqlite dialect uses them.
    connection = OneTripConnection(partial(sqlite3.connect, path), iter_chunk_size=64)
    await connection  # starts its thread and opens the file there
    return connection
