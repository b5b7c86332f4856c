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


MAX_TEXT = 255  # the columns of the account's name, the user's name and email
MAX_PASSWORD = 1024  # as for a password change
TOO_SHORT = "The password needs at least 8 characters"
TOO_LONG = f"The password can have at most {MAX_PASSWORD} characters"


def account_problems(
    name: str, email: str, password: str, user_name: str | None = None
) -> dict[str, str]:
    """Every reason the account cannot be made, by field (`name` is the account's, `user_name`
    the administrator's), in the order a form shows them: the onboarding form shows them all at
    once. The onboarding form and the CLI have no request model: the rules of every body here."""
    problems: dict[str, str] = {}
    for field, value in (("name", name), ("user_name", user_name or ""), ("email", email)):
        if "\x00" in value:
            problems[field] = NUL
        elif len(value.strip()) > MAX_TEXT:
            problems[field] = f"At most {MAX_TEXT} characters"
    if not name.strip():
        problems.setdefault("name", "The account needs a name")
    if not email.strip():
        problems.setdefault("email", "An email address is needed")
    elif "@" not in email:
        problems.setdefault("email", f"{email!r} is not an email address")
    if len(password) < 8:
        problems["password"] = TOO_SHORT
    elif len(password) > MAX_PASSWORD:
        problems["password"] = TOO_LONG
    return problems


async def create_account(
    session: AsyncSession, name: str, email: str, password: str, user_name: str | None = None
) -> NewAccount:
    for field, message in account_problems(name, email, password, user_name).items():
        raise Invalid(message, field=field)  # the first one
    account = Account(name=name.strip())
    session.add(account)
    user = await create_user(session, user_name or email.split("@")[0], email, password)
    await session.flush()
    session.add(AccountUser(account_id=account.id, user_id=user.id, role=ADMINISTRATOR))
    token = await issue_token(session, user)
    return NewAccount(account.id, user.id, token)
