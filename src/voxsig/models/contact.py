"""Contacts (the business's customers) and their identity in each inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from voxsig.models.base import Base, Timestamps


class Contact(Timestamps, Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str | None] = mapped_column(String(255))
    phone_number: Mapped[str | None] = mapped_column(String(64))
    identifier: Mapped[str | None] = mapped_column(String(255))
    avatar_url: Mapped[str] = mapped_column(String(1024), default="")
    custom_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    additional_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_activity_at: Mapped[datetime | None]
    # Made by a stranger (a widget visitor, the public API without identifier_hash): its
    # e-mail, phone and identifier are that visitor's word. They are not unique against other
    # contacts (the answer would tell who is a customer) and a verified login never joins it.
    anonymous: Mapped[bool] = mapped_column(default=False, server_default=false())


class ContactInbox(Timestamps, Base):
    """A contact as seen by one inbox; `source_id` is the contact's id there."""

    __tablename__ = "contact_inboxes"
    __table_args__ = (UniqueConstraint("inbox_id", "source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    source_id: Mapped[str] = mapped_column(String(255))
    hmac_verified: Mapped[bool] = mapped_column(default=False)
