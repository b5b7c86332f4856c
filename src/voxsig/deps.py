"""FastAPI dependencies shared by the routers: the request's transaction and who is asking (a
user's token, or an agent bot's on the few routes Chatwoot opens to bots)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, NoReturn

from fastapi import Depends, Header, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.agent_bots.service import bot_for_token
from voxsig.conversations.changes import Actor
from voxsig.conversations.lookup import get_conversation
from voxsig.db import Database
from voxsig.errors import Forbidden, NotFound, Unauthorized
from voxsig.inboxes.service import get_inbox
from voxsig.kit.schema import Id
from voxsig.models import Account, Conversation, Inbox, User
from voxsig.models.user import ADMINISTRATOR
from voxsig.users.service import member_for_token, user_for_token

# Chatwoot's answer to a bot's token on a route that is not open to bots.
NOT_FOR_BOTS = "Access to this endpoint is not authorized for bots"


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
        await _refuse(session, token, account_id)
    user, account, role = found
    return AccountContext(session, user, account, role)


async def _refuse(session: AsyncSession, token: str, account_id: int) -> NoReturn:
    """Why a token that is no member's of the account gets nothing (only refusals pay for these
    lookups): 401 for no token of anyone's, or a bot's; else 404."""
    if await user_for_token(session, token) is None:
        if await bot_for_token(session, token) is not None:
            raise Unauthorized(NOT_FOR_BOTS)
        raise Unauthorized("The API access token is not valid")
    # 404, not 403: another account's existence is not ours to reveal.
    raise NotFound(f"No account {account_id}")


async def admin_context(ctx: Annotated[AccountContext, Depends(account_context)]) -> AccountContext:
    if not ctx.is_admin:
        raise Forbidden("Only administrators of this account may do this")
    return ctx


Ctx = Annotated[AccountContext, Depends(account_context)]
AdminCtx = Annotated[AccountContext, Depends(admin_context)]


@dataclass
class ActingContext:
    """Who acts on a route Chatwoot opens to agent bots (access_token_auth_helper.rb's
    BOT_ACCESSIBLE_ENDPOINTS): a member of the account, or a bot of it, which reaches only the
    inboxes it is attached to (anything else is a 404, as another account's is)."""

    session: AsyncSession
    account: Account
    actor: Actor

    async def inbox(self, inbox_id: int) -> Inbox:
        inbox = await get_inbox(self.session, self.account.id, inbox_id)
        if self.actor.bot is not None and inbox.agent_bot_id != self.actor.bot.id:
            raise NotFound(f"No inbox {inbox_id} of this bot", field="inbox_id")
        return inbox

    async def conversation(self, display_id: int) -> Conversation:
        conversation = await get_conversation(self.session, self.account.id, display_id)
        if self.actor.bot is not None:
            inbox = await self.session.get(Inbox, conversation.inbox_id)
            if inbox is None or inbox.agent_bot_id != self.actor.bot.id:
                raise NotFound(f"No conversation {display_id} of this bot", field="conversation_id")
        return conversation


async def acting_context(
    session: DbSession,
    account_id: Annotated[Id, Path()],
    api_access_token: ApiAccessToken = None,
    authorization: Authorization = None,
) -> ActingContext:
    token = _token(api_access_token, authorization)
    found = await member_for_token(session, token, account_id)
    if found is not None:
        user, account, _ = found
        return ActingContext(session, account, Actor(user=user))
    bot = await bot_for_token(session, token)
    if bot is None:
        await _refuse(session, token, account_id)
    if bot.account_id != account_id:
        raise NotFound(f"No account {account_id}")
    bot_account = await session.get(Account, account_id)
    assert bot_account is not None  # the bot's own account (deleted with it)
    return ActingContext(session, bot_account, Actor(bot=bot))


Acting = Annotated[ActingContext, Depends(acting_context)]
