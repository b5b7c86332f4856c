"""Server-side dashboard sessions: made at login, looked up on every dashboard request (one
indexed query that also loads the user, the account and the role), and ended by deleting the
row: logout ends one, a password change every other one of the user, a removal from an account
the user's sessions in that account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.kit.clock import utcnow
from voxsig.kit.tokens import digest, new_token
from voxsig.models import Account, AccountUser, DashboardSession, User

SESSION_DAYS = 14


@dataclass
class LiveSession:
    id: int
    user: User
    account: Account
    role: str


async def start_session(session: AsyncSession, user: User, account_id: int) -> str:
    """A new session of `user` looking at `account_id`; returns the token for the cookie (the
    row keeps its digest). The user's expired sessions are swept on the way."""
    now = utcnow()
    await session.execute(
        delete(DashboardSession).where(
            DashboardSession.user_id == user.id, DashboardSession.expires_at <= now
        )
    )
    token = new_token(32)
    session.add(
        DashboardSession(
            token_digest=digest(token),
            user_id=user.id,
            account_id=account_id,
            expires_at=now + timedelta(days=SESSION_DAYS),
        )
    )
    await session.flush()
    return token


# Every dashboard request runs it: built once. The membership join means a session whose user
# was removed from its account finds nothing, even before the row is deleted.
_LIVE = (
    select(DashboardSession.id, User, Account, AccountUser.role)
    .join(User, User.id == DashboardSession.user_id)
    .join(
        AccountUser,
        (AccountUser.user_id == DashboardSession.user_id)
        & (AccountUser.account_id == DashboardSession.account_id),
    )
    .join(Account, Account.id == DashboardSession.account_id)
    .where(
        DashboardSession.token_digest == bindparam("digest"),
        DashboardSession.expires_at > bindparam("now"),
    )
)


async def live_session(session: AsyncSession, token: str) -> LiveSession | None:
    """The session the cookie's token names, with its user, account and role; None if it was
    ended, has expired, or its user is no longer a member of its account."""
    found = await session.execute(_LIVE, {"digest": digest(token), "now": utcnow()})
    row = found.first()
    return None if row is None else LiveSession(row[0], row[1], row[2], row[3])


async def move_session(session: AsyncSession, session_id: int, account_id: int) -> None:
    """The session now looks at another account (the caller checked the membership)."""
    await session.execute(
        update(DashboardSession)
        .where(DashboardSession.id == session_id)
        .values(account_id=account_id, updated_at=utcnow())
    )


async def end_session(session: AsyncSession, token: str) -> None:
    await session.execute(
        delete(DashboardSession).where(DashboardSession.token_digest == digest(token))
    )


async def end_user_sessions(
    session: AsyncSession, user_id: int, *, except_id: int | None = None
) -> None:
    """Every session of the user, but `except_id` (the one that changed the password)."""
    query = delete(DashboardSession).where(DashboardSession.user_id == user_id)
    if except_id is not None:
        query = query.where(DashboardSession.id != except_id)
    await session.execute(query)


async def end_account_sessions(session: AsyncSession, user_id: int, account_id: int) -> None:
    await session.execute(
        delete(DashboardSession).where(
            DashboardSession.user_id == user_id, DashboardSession.account_id == account_id
        )
    )
