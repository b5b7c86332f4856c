"""Voxsig's database as seen from outside the server, through `voxsig.db` and the models: the
same queries on SQLite and PostgreSQL. Each call opens its own engine and closes it (callers
poll at most ten times a second, from synchronous code)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.db import Database
from voxsig.models import Delivery, DeliveryAttempt, Webhook
from voxsig.outbox.wake import CHANNEL as WAKE_CHANNEL

T = TypeVar("T")


def in_session(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Runs `work` in one transaction on a database of its own, from synchronous code."""

    async def main() -> T:
        db = Database(url)
        try:
            async with db.transaction() as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(main())


def count_rows(url: str, model: Any, *where: ColumnElement[bool]) -> int:
    """The rows of `model`'s table (any mapped class) that match `where`."""

    async def work(session: AsyncSession) -> int:
        query = select(func.count()).select_from(model).where(*where)
        return int(await session.scalar(query) or 0)

    return in_session(url, work)


def delivery_counts(url: str, statuses_only: bool = False) -> dict[str, int]:
    """Deliveries by status, then (unless `statuses_only`) `attempts`, and `error:<class>` for
    the failed attempts."""

    async def work(session: AsyncSession) -> dict[str, int]:
        by_status = select(Delivery.status, func.count()).group_by(Delivery.status)
        counts = {str(status): int(n) for status, n in await session.execute(by_status)}
        if statuses_only:
            return dict(sorted(counts.items()))
        counts["attempts"] = int(await session.scalar(select(func.count(DeliveryAttempt.id))) or 0)
        by_error = (
            select(DeliveryAttempt.error_class, func.count())
            .where(DeliveryAttempt.error_class.is_not(None))
            .group_by(DeliveryAttempt.error_class)
        )
        counts |= {f"error:{cls}": int(n) for cls, n in await session.execute(by_error)}
        return counts

    return in_session(url, work)


def set_webhooks_enabled(url: str, enabled: bool) -> None:
    """Disables or enables every webhook in one transaction. A disabled endpoint's deliveries
    stay pending and are not claimed; enabling NOTIFYs the workers on PostgreSQL, as publishing
    does (on SQLite they notice the commit through `PRAGMA data_version`)."""

    async def work(session: AsyncSession) -> None:
        await session.execute(update(Webhook).values(enabled=enabled))
        if enabled and session.get_bind().dialect.name == "postgresql":
            await session.execute(text(f"NOTIFY {WAKE_CHANNEL}"))

    in_session(url, work)
