"""Users (agents and administrators), their account memberships and their API tokens."""

from __future__ import annotations

from typing import Literal, get_args

from sqlalchemy import ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from voxsig.models.base import Base, Timestamps

Role = Literal["administrator", "agent"]
ROLES: tuple[Role, ...] = get_args(Role)
ADMINISTRATOR, AGENT = ROLES


class User(Timestamps, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    avatar_url: Mapped[str] = mapped_column(String(1024), default="")
    # The dashboard's notifications, the user's own choice (Profile): system notifications
    # (the browser's permission is asked for when turning them on) and a beep with each notice.
    notify_browser: Mapped[bool] = mapped_column(default=False, server_default=false())
    notify_sound: Mapped[bool] = mapped_column(default=False, server_default=false())


class AccountUser(Timestamps, Base):
    __tablename__ = "account_users"
    __table_args__ = (UniqueConstraint("account_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))


class AccessToken(Timestamps, Base):
    """Only the digest is stored: a token is shown once, when it is made."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
