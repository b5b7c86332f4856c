"""Inboxes: a web widget on a website, or an API channel."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from voxsig.models.base import Base, Timestamps

WEB_WIDGET = "Channel::WebWidget"
API = "Channel::Api"


class Inbox(Timestamps, Base):
    __tablename__ = "inboxes"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    channel_type: Mapped[str] = mapped_column(String(32))
    website_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    inbox_identifier: Mapped[str | None] = mapped_column(String(64), unique=True)
    hmac_token: Mapped[str] = mapped_column(String(64))
    hmac_mandatory: Mapped[bool] = mapped_column(default=False)
    website_url: Mapped[str] = mapped_column(String(1024), default="")
    widget_color: Mapped[str] = mapped_column(String(16), default="#1f93ff")
    welcome_title: Mapped[str] = mapped_column(String(255), default="")
    welcome_tagline: Mapped[str] = mapped_column(String(1024), default="")
    greeting_enabled: Mapped[bool] = mapped_column(default=False)
    greeting_message: Mapped[str] = mapped_column(String(1024), default="")
    webhook_url: Mapped[str] = mapped_column(String(2048), default="")
    # The bot that answers first (one per inbox): its conversations start pending.
    agent_bot_id: Mapped[int | None] = mapped_column(
        ForeignKey("agent_bots.id", ondelete="SET NULL"), index=True
    )
