"""Users, their account memberships and their API tokens."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.errors import Conflict, Invalid, NotFound
from voxsig.kit.tokens import digest, new_token
from voxsig.models import AccessToken, Account, AccountUser, User
from voxsig.users.passwords import hash_password, verify_password
from voxsig.users.sessions import end_account_sessions, end_user_sessions


@dataclass
class Member:
    user: User
    membership: AccountUser


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == normalize_email(email)))


async def create_user(session: AsyncSession, name: str, email: str, password: str) -> User:
    if await find_user_by_email(session, email):
        raise Conflict(f"A user with the email {email} already exists", field="email")
    user = User(name=name, email=normalize_email(email), password_hash=hash_password(password))
    session.add(user)
    await session.flush()
    return user


async def issue_token(session: AsyncSession, user: User) -> str:
    """A new API access token; only its digest is kept, so this is the one time it is seen."""
    token = new_token()
    session.add(AccessToken(user_id=user.id, token_digest=digest(token)))
    await session.flush()
    return token


async def replace_tokens(session: AsyncSession, user: User) -> str:
    await session.execute(delete(AccessToken).where(AccessToken.user_id == user.id))
    return await issue_token(session, user)


async def user_for_token(session: AsyncSession, token: str) -> User | None:
    return await session.scalar(
        select(User)
        .join(AccessToken, AccessToken.user_id == User.id)
        .where(AccessToken.token_digest == digest(token))
    )


# Every account route runs it: built once (building it costs more CPU than running it).
_MEMBER = (
    select(User, Account, AccountUser.role)
    .join(AccessToken, AccessToken.user_id == User.id)
    .join(AccountUser, AccountUser.user_id == User.id)
    .join(Account, Account.id == AccountUser.account_id)
    .where(AccessToken.token_digest == bindparam("digest"), Account.id == bindparam("account_id"))
)


async def member_for_token(
    session: AsyncSession, token: str, account_id: int
) -> tuple[User, Account, str] | None:
    """The token's user, with the account and their role in it, if they are a member."""
    found = await session.execute(_MEMBER, {"digest": digest(token), "account_id": account_id})
    row = found.first()
    return None if row is None else (row[0], row[1], row[2])


async def memberships(session: AsyncSession, user: User) -> list[tuple[Account, AccountUser]]:
    rows = await session.execute(
        select(Account, AccountUser)
        .join(AccountUser, AccountUser.account_id == Account.id)
        .where(AccountUser.user_id == user.id)
        .order_by(Account.id)
    )
    return [(a, m) for a, m in rows]


async def membership(session: AsyncSession, account_id: int, user_id: int) -> AccountUser | None:
    return await session.scalar(
        select(AccountUser).where(
            AccountUser.account_id == account_id, AccountUser.user_id == user_id
        )
    )


async def list_members(session: AsyncSession, account_id: int) -> list[Member]:
    rows = await session.execute(
        select(User, AccountUser)
        .join(AccountUser, AccountUser.user_id == User.id)
        .where(AccountUser.account_id == account_id)
        .order_by(User.id)
    )
    return [Member(u, m) for u, m in rows]


async def get_member(session: AsyncSession, account_id: int, user_id: int) -> Member:
    row = (
        await session.execute(
            select(User, AccountUser)
            .join(AccountUser, AccountUser.user_id == User.id)
            .where(AccountUser.account_id == account_id, User.id == user_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"No agent {user_id} in this account")
    return Member(row[0], row[1])


async def add_member(
    session: AsyncSession, account_id: int, name: str, email: str, role: str
) -> Member:
    """Adds an existing user by email, or creates one with a random password (the dashboard
    lets them set their own)."""
    user = await find_user_by_email(session, email)
    if user is None:
        user = await create_user(session, name, email, new_token(24))
    elif await membership(session, account_id, user.id):
        raise Invalid(f"{email} is already an agent of this account", field="email")
    link = AccountUser(account_id=account_id, user_id=user.id, role=role)
    session.add(link)
    await session.flush()
    return Member(user, link)


async def count_administrators(session: AsyncSession, account_id: int) -> int:
    return (
        await session.scalar(
            select(func.count())
            .select_from(AccountUser)
            .where(AccountUser.account_id == account_id, AccountUser.role == "administrator")
        )
        or 0
    )


async def update_member(
    session: AsyncSession, member: Member, name: str | None, role: str | None
) -> Member:
    if role is not None and role != member.membership.role:
        if member.membership.role == "administrator":
            await _keep_one_administrator(session, member.membership.account_id)
        member.membership.role = role
    if name is not None:
        member.user.name = name
    await session.flush()
    return member


async def remove_member(session: AsyncSession, member: Member) -> None:
    if member.membership.role == "administrator":
        await _keep_one_administrator(session, member.membership.account_id)
    await session.delete(member.membership)
    # The agent's dashboard sessions in this account end with the membership.
    await end_account_sessions(session, member.user.id, member.membership.account_id)
    await session.flush()


async def _keep_one_administrator(session: AsyncSession, account_id: int) -> None:
    if await count_administrators(session, account_id) <= 1:
        raise Invalid("An account needs at least one administrator", field="role")


async def set_password(
    session: AsyncSession, user: User, password: str, *, keep_session: int | None = None
) -> None:
    """A user's own new password (the set-password link, a password change). Every dashboard
    session of the user ends, but `keep_session` (the one that set it)."""
    if len(password) < 8:
        raise Invalid("The password needs at least 8 characters", field="password")
    user.password_hash = await asyncio.to_thread(hash_password, password)
    await end_user_sessions(session, user.id, except_id=keep_session)
    await session.flush()


async def change_password(
    session: AsyncSession,
    user: User,
    current: str,
    password: str,
    confirmation: str,
    *,
    keep_session: int | None = None,
) -> None:
    """The user's own password change: the current password must be right, the new one given
    twice. Every dashboard session of the user ends but `keep_session` (the one asking); the
    API tokens are kept (the caller replaces them when asked)."""
    if not await asyncio.to_thread(verify_password, user.password_hash, current):
        raise Invalid("The current password is not right", field="current_password")
    if password != confirmation:
        raise Invalid("The two passwords differ", field="password_confirmation")
    await set_password(session, user, password, keep_session=keep_session)
