"""Messages of a conversation."""

from __future__ import annotations

from typing import Any, Literal, get_args

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from voxsig.models.attachment import Attachment
from voxsig.models.base import Base, Timestamps

INCOMING, OUTGOING, ACTIVITY, TEMPLATE = 0, 1, 2, 3
MESSAGE_TYPES = {
    "incoming": INCOMING,
    "outgoing": OUTGOING,
    "activity": ACTIVITY,
    "template": TEMPLATE,
}
ContentType = Literal[
    "text",
    "input_text",
    "input_textarea",
    "input_email",
    "input_select",
    "cards",
    "form",
    "article",
    "incoming_email",
    "input_csat",
]
CONTENT_TYPES: tuple[ContentType, ...] = get_args(ContentType)
MessageStatus = Literal["sent", "delivered", "read", "failed"]
MESSAGE_STATUSES: tuple[MessageStatus, ...] = get_args(MessageStatus)
DELETED_CONTENT = "This message was deleted"
# Characters of one message, as Chatwoot allows; every path that writes one checks it.
MAX_CONTENT = 150_000


class Message(Timestamps, Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_id_id", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    content: Mapped[str | None] = mapped_column(Text)
    message_type: Mapped[int]
    content_type: Mapped[str] = mapped_column(String(32), default="text")
    content_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    private: Mapped[bool] = mapped_column(default=False)
    source_id: Mapped[str | None] = mapped_column(String(255))
    # At most one of these is set: activity messages and the inbox's greeting (a template
    # message) have no sender.
    sender_contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )
    sender_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    sender_agent_bot_id: Mapped[int | None] = mapped_column(
        ForeignKey("agent_bots.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), default="sent")
    # Loaded with every batch of messages (one query a batch); a new message is given its list
    # when it is made, so rendering it queries nothing.
    attachments: Mapped[list[Attachment]] = relationship(
        lazy="selectin", order_by=Attachment.id, passive_deletes=True
    )
