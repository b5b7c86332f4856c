"""Conversations and their labels."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from voxsig.kit.clock import utcnow
from voxsig.models.base import Base, Timestamps

Status = Literal["open", "resolved", "pending", "snoozed"]
Priority = Literal["low", "medium", "high", "urgent"]
STATUSES: tuple[Status, ...] = get_args(Status)
PRIORITIES: tuple[Priority, ...] = get_args(Priority)


class Conversation(Timestamps, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("account_id", "display_id"),
        Index("ix_conversations_account_status", "account_id", "status", "last_activity_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # The public id: the conversation's number within its account.
    display_id: Mapped[int]
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    contact_inbox_id: Mapped[int] = mapped_column(
        ForeignKey("contact_inboxes.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="open")
    priority: Mapped[str | None] = mapped_column(String(16))
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    snoozed_until: Mapped[datetime | None]
    custom_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    additional_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    agent_last_seen_at: Mapped[datetime | None]
    contact_last_seen_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationLabel(Base):
    __tablename__ = "conversation_labels"
    __table_args__ = (UniqueConstraint("conversation_id", "title"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(255), index=True)
