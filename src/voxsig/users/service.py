"""Users, their account memberships and their API tokens."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.errors import Conflict, Invalid, NotFound
from voxsig.kit.schema import MAX_ID
from voxsig.kit.tokens import digest, new_token
from voxsig.models import AccessToken, Account, AccountUser, Invitation, User
from voxsig.models.user import ADMINISTRATOR
from voxsig.users.passwords import hash_password, verify_password
from voxsig.users.sessions import end_account_sessions, end_user_sessions

# The password_hash of a user made by an administrator's invitation, until they choose a
# password through the set-password link: no password verifies against it (not an argon2 hash).
UNSET_PASSWORD = "unset:"  # noqa: S105


@dataclass
class Member:
    """An agent of an account as its administrators see it: a member, or (`pending`) a user
    invited and not yet joined, shown with only what the administrator typed."""

    user: User
    membership: AccountUser | Invitation

    @property
    def pending(self) -> bool:
        return isinstance(self.membership, Invitation)


def has_password(user: User) -> bool:
    """Whether the user chose a password (took up their login) or still has none."""
    return not user.password_hash.startswith(UNSET_PASSWORD)


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    if "\x00" in email:
        # No user has one (bodies refuse NUL), and PostgreSQL cannot even compare it: the
        # dashboard's login form, which has no request model, answered 500.
        return None
    return await session.scalar(select(User).where(User.email == normalize_email(email)))


async def create_user(session: AsyncSession, name: str, email: str, password: str | None) -> User:
    """A new user; `password` None leaves them without one until they choose it (an agent an
    administrator adds). The id is random, not the next in line: an agent's id is in the
    answer of POST agents, and a sequential one would tell a new user from an older one."""
    if await find_user_by_email(session, email):
        raise Conflict(f"A user with the email {email} already exists", field="email")
    password_hash = UNSET_PASSWORD + new_token(24) if password is None else hash_password(password)
    user = User(
        id=await _unused_user_id(session),
        name=name,
        email=normalize_email(email),
        password_hash=password_hash,
    )
    session.add(user)
    await session.flush()
    return user


async def _unused_user_id(session: AsyncSession) -> int:
    while True:
        candidate = secrets.randbelow(MAX_ID) + 1
        if await session.get(User, candidate) is None:
            return candidate


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


def _users_with(model: type[AccountUser] | type[Invitation], account_id: int) -> Select[User, Any]:
    """The account's users with their membership row, or with their pending invitation."""
    return (
        select(User, model)
        .join(model, model.user_id == User.id)
        .where(model.account_id == account_id)
    )


async def list_members(session: AsyncSession, account_id: int) -> list[Member]:
    rows = await session.execute(_users_with(AccountUser, account_id).order_by(User.id))
    return [Member(u, m) for u, m in rows]


async def get_member(session: AsyncSession, account_id: int, user_id: int) -> Member:
    row = (
        await session.execute(_users_with(AccountUser, account_id).where(User.id == user_id))
    ).first()
    if row is None:
        raise NotFound(f"No agent {user_id} in this account")
    return Member(row[0], row[1])


async def list_agents(session: AsyncSession, account_id: int) -> list[Member]:
    """The members and the pending invitations of the account, in the order they were added."""
    pending = await session.execute(_users_with(Invitation, account_id))
    agents = await list_members(session, account_id) + [Member(u, i) for u, i in pending]
    return sorted(agents, key=lambda a: (a.membership.created_at, a.user.id))


async def get_agent(session: AsyncSession, account_id: int, user_id: int) -> Member:
    """A member or a pending invitee of the account (the agents routes: both look alike)."""
    row = (
        await session.execute(_users_with(Invitation, account_id).where(User.id == user_id))
    ).first()
    return Member(row[0], row[1]) if row else await get_member(session, account_id, user_id)


async def _invitation(session: AsyncSession, account_id: int, user_id: int) -> Invitation | None:
    return await session.scalar(
        select(Invitation).where(Invitation.account_id == account_id, Invitation.user_id == user_id)
    )


async def add_member(
    session: AsyncSession, account_id: int, name: str, email: str, role: str
) -> Member:
    """An administrator adds an agent by email. A new email makes a user without a password
    (the set-password link lets them choose one) and a member. An existing user is only
    invited: nothing about them changes, and they join when they accept. Both answers look
    alike (the typed name, not yet joined), so the account cannot tell whether the email had
    a user elsewhere on the installation."""
    user = await find_user_by_email(session, email)
    if user is None:
        user = await create_user(session, name, email, None)
        added: AccountUser | Invitation = AccountUser(
            account_id=account_id, user_id=user.id, role=role
        )
    elif await membership(session, account_id, user.id) or await _invitation(
        session, account_id, user.id
    ):
        raise Invalid(f"{email} is already an agent of this account", field="email")
    else:
        added = Invitation(account_id=account_id, user_id=user.id, name=name, role=role)
    session.add(added)
    await session.flush()
    return Member(user, added)


async def invitations_of(session: AsyncSession, user: User) -> list[tuple[Account, Invitation]]:
    rows = await session.execute(
        select(Account, Invitation)
        .join(Invitation, Invitation.account_id == Account.id)
        .where(Invitation.user_id == user.id)
        .order_by(Invitation.id)
    )
    return [(a, i) for a, i in rows]


async def _own_invitation(session: AsyncSession, user: User, invitation_id: int) -> Invitation:
    found = await session.scalar(
        select(Invitation).where(Invitation.id == invitation_id, Invitation.user_id == user.id)
    )
    if found is None:
        raise NotFound(f"No invitation {invitation_id} for you")
    return found


async def accept_invitation(session: AsyncSession, user: User, invitation_id: int) -> int:
    """The invited user joins the account with the invitation's role; returns the account id.
    Their own name, email and password stay as they are."""
    invitation = await _own_invitation(session, user, invitation_id)
    session.add(
        AccountUser(account_id=invitation.account_id, user_id=user.id, role=invitation.role)
    )
    await session.delete(invitation)
    await session.flush()
    return invitation.account_id


async def decline_invitation(session: AsyncSession, user: User, invitation_id: int) -> None:
    await session.delete(await _own_invitation(session, user, invitation_id))
    await session.flush()


async def count_administrators(session: AsyncSession, account_id: int) -> int:
    return (
        await session.scalar(
            select(func.count())
            .select_from(AccountUser)
            .where(AccountUser.account_id == account_id, AccountUser.role == ADMINISTRATOR)
        )
        or 0
    )


async def update_member(
    session: AsyncSession, member: Member, name: str | None, role: str | None
) -> Member:
    """An administrator's change: the role in this account, and the name only while the agent
    has not joined (the invitation's, or that of a user without a password, whom no other
    account sees). A user's own name is theirs: no administrator changes it, since every
    account they belong to shows it."""
    if name is not None and name != shown_name(member):
        if isinstance(member.membership, Invitation):
            member.membership.name = name
        elif not has_password(member.user):
            member.user.name = name
        else:
            raise Invalid("The agent has joined: only they can change their own name", field="name")
    if role is not None and role != member.membership.role:
        if member.membership.role == ADMINISTRATOR and not member.pending:
            await _keep_one_administrator(session, member.membership.account_id)
        member.membership.role = role
    await session.flush()
    return member


def shown_name(member: Member) -> str:
    """The name the account shows: a pending invitee's is the one its administrator typed."""
    if isinstance(member.membership, Invitation):
        return member.membership.name
    return member.user.name


async def remove_member(session: AsyncSession, member: Member) -> None:
    """Removes a member, or withdraws a pending invitation."""
    if member.membership.role == ADMINISTRATOR and not member.pending:
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
