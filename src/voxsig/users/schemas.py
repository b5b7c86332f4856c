"""Agent request bodies and the agent / profile JSON of the REST API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, RootModel, model_validator

from voxsig.kit.schema import Body
from voxsig.models import Account, AccountUser, Invitation, User
from voxsig.models.user import AGENT, Role
from voxsig.openapi import Attributes, Doc, absent
from voxsig.users.service import has_password


class AgentCreate(Body):
    name: str = Field(min_length=1, max_length=255)
    email: str = Field(min_length=3, max_length=255, pattern=r"^[^@\s]+@[^@\s]+$")
    role: Role = AGENT


class AgentUpdate(Body):
    """Chatwoot's fields; `email` (like anything unknown) is ignored: a user's email is theirs."""

    name: str | None = Field(default=None, min_length=1, max_length=255)
    role: Role | None = None


class PasswordChange(Body):
    """PUT /api/v1/profile, as Chatwoot's: the fields bare or wrapped in `profile`."""

    current_password: str = Field(min_length=1, max_length=1024)
    password: str = Field(min_length=8, max_length=1024)
    password_confirmation: str = Field(max_length=1024)
    rotate_token: bool = Field(
        default=False, description="Also replace the API access token (the answer shows it once)"
    )

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("profile"), dict):
            return data["profile"]
        return data


def agent_json(user: User, membership: AccountUser | Invitation) -> dict[str, Any]:
    """A pending invitee shows only what the administrator typed (name, email), never the
    user's own name or avatar; `confirmed` is false until the agent has joined (accepted, or
    chose their password), alike for a new user and an existing one."""
    pending = isinstance(membership, Invitation)
    name = membership.name if isinstance(membership, Invitation) else user.name
    avatar = "" if pending else user.avatar_url
    return {
        "id": user.id,
        "name": name,
        "display_name": name,
        "available_name": name,
        "email": user.email,
        "account_id": membership.account_id,
        "role": membership.role,
        "confirmed": not pending and has_password(user),
        "availability_status": "offline",
        "avatar_url": avatar,
        "thumbnail": avatar,
        "type": "user",
        "custom_attributes": {},
    }


def profile_json(user: User, accounts: list[tuple[Account, AccountUser]]) -> dict[str, Any]:
    first = accounts[0][1] if accounts else None
    return {
        **(
            agent_json(user, first)
            if first
            else {"id": user.id, "name": user.name, "email": user.email, "type": "user"}
        ),
        "account_id": first.account_id if first else None,
        "role": first.role if first else None,
        "accounts": [{"id": a.id, "name": a.name, "role": m.role} for a, m in accounts],
    }


# -- what the routes answer (documentation only: /openapi.json) ---------------------------------


class AgentObject(Doc):
    """A member of the account (agent_json)."""

    id: int
    name: str
    display_name: str
    available_name: str
    email: str
    account_id: int
    role: Role
    confirmed: bool
    availability_status: Literal["online", "busy", "offline"]
    avatar_url: str
    thumbnail: str
    type: Literal["user"]
    custom_attributes: Attributes


class ProfileAccount(Doc):
    id: int
    name: str
    role: Role


NO_ACCOUNT = "Left out for a user who belongs to no account"


class ProfileObject(Doc):
    """The token's user, as an agent of their first account (profile_json)."""

    id: int
    name: str
    email: str
    type: Literal["user"]
    account_id: int | None
    role: Role | None
    accounts: list[ProfileAccount]
    display_name: str = absent(NO_ACCOUNT)
    available_name: str = absent(NO_ACCOUNT)
    confirmed: bool = absent(NO_ACCOUNT)
    availability_status: Literal["online", "busy", "offline"] = absent(NO_ACCOUNT)
    avatar_url: str = absent(NO_ACCOUNT)
    thumbnail: str = absent(NO_ACCOUNT)
    custom_attributes: Attributes = absent(NO_ACCOUNT)


class ProfileChanged(ProfileObject):
    """The profile after a password change."""

    access_token: str = absent(
        "Only when `rotate_token` was true: the new API access token, shown this once"
    )


class AgentList(RootModel[list[AgentObject]]):
    pass
