"""Creating an account with its first administrator."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.errors import Invalid
from voxsig.kit.json_limits import NUL
from voxsig.models import Account, AccountUser
from voxsig.models.user import ADMINISTRATOR
from voxsig.users.service import create_user, issue_token


@dataclass
class NewAccount:
    account_id: int
    user_id: int
    api_access_token: str


async def create_account(
    session: AsyncSession, name: str, email: str, password: str, user_name: str | None = None
) -> NewAccount:
    if not name.strip():
        raise Invalid("The account needs a name", field="name")
    # The onboarding form and the CLI have no request model: the rule of every body here.
    for field, value in (("name", name), ("email", email), ("user_name", user_name or "")):
        if "\x00" in value:
            raise Invalid(NUL, field=field)
    if "@" not in email:
        raise Invalid(f"{email!r} is not an email address", field="email")
    if len(password) < 8:
        raise Invalid("The password needs at least 8 characters", field="password")
    account = Account(name=name.strip())
    session.add(account)
    user = await create_user(session, user_name or email.split("@")[0], email, password)
    await session.flush()
    session.add(AccountUser(account_id=account.id, user_id=user.id, role=ADMINISTRATOR))
    token = await issue_token(session, user)
    return NewAccount(account.id, user.id, token)
