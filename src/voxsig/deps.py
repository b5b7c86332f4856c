"""FastAPI dependencies shared by the routers: the request's transaction and who is asking."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.db import Database
from voxsig.errors import Forbidden, NotFound, Unauthorized
from voxsig.kit.schema import Id
from voxsig.models import Account, AccountUser, User
from voxsig.users.service import user_for_token


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def _transaction(request: Request) -> AsyncIterator[AsyncSession]:
    # scope="function" below: the commit happens before the response is sent, so a client that
    # got a 2xx can rely on the change (and its webhook events) being durable.
    async with get_database(request).transaction() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(_transaction, scope="function")]


async def current_user(
    session: DbSession,
    api_access_token: Annotated[str | None, Header(alias="api_access_token")] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> User:
    token = api_access_token
    if not token and authorization and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
    if not token:
        raise Unauthorized("Send your API access token in the api_access_token header")
    user = await user_for_token(session, token)
    if user is None:
        raise Unauthorized("The API access token is not valid")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


@dataclass
class AccountContext:
    session: AsyncSession
    user: User
    account: Account
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "administrator"


async def account_context(
    session: DbSession, user: CurrentUser, account_id: Annotated[Id, Path()]
) -> AccountContext:
    row = (
        await session.execute(
            select(Account, AccountUser.role)
            .join(AccountUser, AccountUser.account_id == Account.id)
            .where(Account.id == account_id, AccountUser.user_id == user.id)
        )
    ).first()
    if row is None:
        # 404, not 403: another account's existence is not ours to reveal.
        raise NotFound(f"No account {account_id}")
    return AccountContext(session, user, row[0], row[1])


async def admin_context(ctx: Annotated[AccountContext, Depends(account_context)]) -> AccountContext:
    if not ctx.is_admin:
        raise Forbidden("Only administrators of this account may do this")
    return ctx


Ctx = Annotated[AccountContext, Depends(account_context)]
AdminCtx = Annotated[AccountContext, Depends(admin_context)]
