"""Accounts: the tenant boundary. Every other row belongs to exactly one account."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from voxsig.models.base import Base, Timestamps


class Account(Timestamps, Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    # Last conversation number handed out: conversations are numbered per account, from 1.
    conversation_seq: Mapped[int] = mapped_column(default=0)
