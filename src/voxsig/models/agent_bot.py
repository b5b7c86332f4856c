"""Agent bots: an outbound endpoint (a `webhooks` row of kind `agent_bot`) that receives the
conversations of the inboxes it is attached to, and answers through the API with its own
token."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from voxsig.models.base import Base, Timestamps

# Chatwoot's `bot_type`: a bot that is called over HTTP (its only other type, csml, is gone).
WEBHOOK_BOT = "webhook"


class AgentBot(Timestamps, Base):
    __tablename__ = "agent_bots"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(1024), default="")
    avatar_url: Mapped[str] = mapped_column(String(2048), default="")
    bot_type: Mapped[str] = mapped_column(String(16), default=WEBHOOK_BOT)
    bot_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Shown to administrators, as Chatwoot does, so it is kept; requests find the bot by the
    # digest (one indexed lookup, the same as users' tokens).
    access_token: Mapped[str] = mapped_column(String(128))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
