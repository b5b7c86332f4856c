"""An administrator's invitation of an existing user to an account: the user becomes a member
only when they accept it, and until then the account sees only what its administrator typed."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from voxsig.models.base import Base, Timestamps


class Invitation(Timestamps, Base):
    __tablename__ = "invitations"
    __table_args__ = (UniqueConstraint("account_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The name the administrator gave: shown in the account while the invitation is pending, so
    # the account never sees the user's own name (nor learns that the user exists) before then.
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
