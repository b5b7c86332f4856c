"""Dashboard sessions: one row per logged-in browser, so a session can be ended server-side."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from voxsig.models.base import Base, Timestamps


class DashboardSession(Timestamps, Base):
    """The signed cookie carries a random token; the row keeps only its digest (a copy of the
    database logs nobody in). Deleting the row ends the session: logout, a password change,
    the user's removal from `account_id`, the account's or the user's deletion."""

    __tablename__ = "dashboard_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The account the session is looking at: removal from it ends the session.
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime]
