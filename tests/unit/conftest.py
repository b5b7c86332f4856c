"""The unit layer's database: a real SQLite file per test, migrated as `voxsig migrate` does.
No server process, no PostgreSQL: the schema is migrated once per session (Alembic, in process)
and each test gets its own copy of the file."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.outbox_rows import Rows
from voxsig.db import Database
from voxsig.migrate import upgrade


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def migrated_schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schema") / "voxsig.db"
    upgrade(sqlite_url(path))  # its engine is disposed on return: the file holds everything
    return path


@pytest.fixture
def anyio_backend() -> str:
    """`async def` tests (marked anyio) run on asyncio, as Voxsig does."""
    return "asyncio"


@pytest.fixture
async def db(migrated_schema: Path, tmp_path: Path) -> AsyncIterator[Database]:
    path = tmp_path / "voxsig.db"
    shutil.copyfile(migrated_schema, path)
    database = Database(sqlite_url(path))
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def rows(db: Database) -> Rows:
    return Rows(db)
