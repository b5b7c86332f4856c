"""Reading one row of one account: the tenant check every lookup by id goes through."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.errors import NotFound


class Owned(Protocol):
    id: Any
    account_id: Any


T = TypeVar("T", bound=Owned)


async def owned(session: AsyncSession, model: type[T], account_id: int, row_id: int) -> T:
    """The row of `model` with this id in this account; 404 for any other account's row, so
    another tenant's ids are indistinguishable from ids that do not exist."""
    row = await session.scalar(
        select(model).where(model.account_id == account_id, model.id == row_id)
    )
    if row is None:
        what = model.__name__.lower()
        raise NotFound(f"No {what} {row_id} in this account", field=f"{what}_id")
    return row
