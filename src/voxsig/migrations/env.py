"""Alembic environment: runs migrations over the async engine of the configured URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from voxsig.db import make_engine
from voxsig.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite alters a table by copying it and dropping the old one; with foreign keys on,
        # that drop would cascade (dropping `webhooks` deletes every delivery). So migrations run
        # with them off, as SQLite's documentation prescribes, and are checked afterwards.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        connection.commit()
        if broken:
            raise RuntimeError(f"The migration left rows without their parent: {broken[:5]}")
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


async def _main() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set by voxsig.migrate"
    engine = make_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


asyncio.run(_main())
