"""Agent request bodies and the agent / profile JSON of the REST API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from voxsig.kit.schema import Body
from voxsig.models import Account, AccountUser, User

Role = Literal["administrator", "agent"]


class AgentCreate(Body):
    name: str = Field(min_length=1, max_length=255)
    email: str = Field(min_length=3, max_length=255, pattern=r"^[^@\s]+@[^@\s]+$")
    role: Role = "agent"


class AgentUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    role: Role | None = None


def agent_json(user: User, membership: AccountUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "display_name": user.name,
        "available_name": user.name,
        "email": user.email,
        "account_id": membership.account_id,
        "role": membership.role,
        "confirmed": True,
        "availability_status": "offline",
        "avatar_url": user.avatar_url,
        "thumbnail": user.avatar_url,
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
