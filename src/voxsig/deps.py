"""FastAPI dependencies shared by the routers: the request's transaction and who is asking."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.db import Database
from voxsig.errors import Forbidden, NotFound, Unauthorized
from voxsig.kit.schema import Id
from voxsig.models import Account, User
from voxsig.models.user import ADMINISTRATOR
from voxsig.users.service import member_for_token, user_for_token


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def _transaction(request: Request) -> AsyncIterator[AsyncSession]:
    # scope="function" below: the commit happens before the response is sent, so a client that
    # got a 2xx can rely on the change (and its webhook events) being durable.
    async with get_database(request).transaction() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(_transaction, scope="function")]


def _token(api_access_token: str | None, authorization: str | None) -> str:
    """Chatwoot's api_access_token header, or an Authorization: Bearer token."""
    token = api_access_token
    if not token and authorization and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
    if not token:
        raise Unauthorized("Send your API access token in the api_access_token header")
    return token


# Chatwoot's header has underscores: documented as sent (FastAPI would document api-access-token).
ApiAccessToken = Annotated[str | None, Header(alias="api_access_token", convert_underscores=False)]
Authorization = Annotated[str | None, Header()]


async def current_user(
    session: DbSession, api_access_token: ApiAccessToken = None, authorization: Authorization = None
) -> User:
    user = await user_for_token(session, _token(api_access_token, authorization))
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
        return self.role == ADMINISTRATOR


async def account_context(
    session: DbSession,
    account_id: Annotated[Id, Path()],
    api_access_token: ApiAccessToken = None,
    authorization: Authorization = None,
) -> AccountContext:
    """Who asks and in which account, in one query: every account route starts with it."""
    token = _token(api_access_token, authorization)
    found = await member_for_token(session, token, account_id)
    if found is None:
        if await user_for_token(session, token) is None:
            raise Unauthorized("The API access token is not valid")
        # 404, not 403: another account's existence is not ours to reveal.
        raise NotFound(f"No account {account_id}")
    user, account, role = found
    return AccountContext(session, user, account, role)


async def admin_context(ctx: Annotated[AccountContext, Depends(account_context)]) -> AccountContext:
    if not ctx.is_admin:
        raise Forbidden("Only administrators of this account may do this")
    return ctx


Ctx = Annotated[AccountContext, Depends(account_context)]
AdminCtx = Annotated[AccountContext, Depends(admin_context)]
