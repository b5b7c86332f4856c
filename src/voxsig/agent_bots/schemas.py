"""Agent-bot request bodies (Chatwoot's: the fields top-level) and documentation-only models of
the answers (views/agent_bots.py builds them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, RootModel, StrictBool, field_validator

from voxsig.kit.schema import Body, Id
from voxsig.models.webhook import PayloadFormat, Signing
from voxsig.openapi import Doc
from voxsig.outbox.target import normalise
from voxsig.webhooks.schemas import MaxInFlight, WebhookObject


def _url_or_blank(value: str | None) -> str | None:
    """The URL as the HTTP client will see it (outbox.target), or "" for none."""
    if value is None or not value.strip():
        return None if value is None else ""
    return normalise(value.strip())


class BotFields(Body):
    description: str | None = Field(default=None, max_length=1024)
    # Where the bot is called: "" or absent, nowhere (it may still act with its token).
    outgoing_url: str | None = Field(default=None, max_length=2048)
    avatar_url: str | None = Field(default=None, max_length=2048)
    bot_type: Literal["webhook"] | None = None
    bot_config: dict[str, Any] | None = None
    # Its endpoint's settings, as an account webhook's (a bot with an outgoing_url only).
    payload_format: PayloadFormat | None = None
    signing: Signing | None = None
    enabled: StrictBool | None = None
    auto_recover: StrictBool | None = None
    max_in_flight: MaxInFlight | None = None

    @field_validator("outgoing_url")
    @classmethod
    def _outgoing(cls, value: str | None) -> str | None:
        return _url_or_blank(value)

    @field_validator("avatar_url")
    @classmethod
    def _avatar(cls, value: str | None) -> str | None:
        """Shown as an image by the widget and the dashboard: an http(s) URL or nothing."""
        return _url_or_blank(value)


class BotCreate(BotFields):
    name: str = Field(min_length=1, max_length=255)


class BotUpdate(BotFields):
    name: str | None = Field(default=None, min_length=1, max_length=255)


class SetAgentBot(Body):
    """Chatwoot's `{"agent_bot": id}`; null removes the inbox's bot."""

    agent_bot: Id | None


class AgentBotObject(Doc):
    id: int
    name: str
    description: str
    thumbnail: str
    avatar_url: str
    outgoing_url: str
    bot_type: str
    bot_config: dict[str, Any]
    account_id: int
    system_bot: bool
    access_token: str
    payload_format: str
    signing: str
    secret: str | None
    public_key: str | None
    inbox_ids: list[int]
    webhook: WebhookObject | None


class AgentBotList(RootModel[list[AgentBotObject]]):
    """A bare array, as Chatwoot answers."""


class InboxAgentBot(Doc):
    agent_bot: dict[str, Any]
