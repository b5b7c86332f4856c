"""Webhook request bodies and the webhook JSON (Chatwoot's shape, plus secret and health)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from voxsig.events.names import ALL
from voxsig.kit.clock import from_unix
from voxsig.kit.schema import Body, Id
from voxsig.models import Inbox, Webhook


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    return url


def _check_subscriptions(events: list[str]) -> list[str]:
    if not events:
        raise ValueError(f"subscribe to at least one event: {', '.join(ALL)}")
    unknown = [e for e in events if e not in ALL]
    if unknown:
        raise ValueError(f"unknown event {', '.join(unknown)}; allowed: {', '.join(ALL)}")
    return list(dict.fromkeys(events))


class WebhookCreate(Body):
    url: str = Field(max_length=2048)
    subscriptions: list[str]
    name: str = Field(default="", max_length=255)
    inbox_id: Id | None = None

    _url = field_validator("url")(_check_url)
    _subs = field_validator("subscriptions")(_check_subscriptions)


class WebhookUpdate(Body):
    url: str | None = Field(default=None, max_length=2048)
    subscriptions: list[str] | None = None
    name: str | None = Field(default=None, max_length=255)
    inbox_id: Id | None = None
    enabled: bool | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        return None if url is None else _check_url(url)

    @field_validator("subscriptions")
    @classmethod
    def _subs(cls, events: list[str] | None) -> list[str] | None:
        return None if events is None else _check_subscriptions(events)


def unwrap(body: Any) -> Any:
    """Chatwoot wraps the fields in a `webhook` key; both shapes are accepted."""
    if isinstance(body, dict) and isinstance(body.get("webhook"), dict):
        return body["webhook"]
    return body


def webhook_json(webhook: Webhook, inbox: Inbox | None) -> dict[str, Any]:
    return {
        "id": webhook.id,
        "name": webhook.name,
        "url": webhook.url,
        "account_id": webhook.account_id,
        "subscriptions": webhook.subscriptions,
        "inbox": {"id": inbox.id, "name": inbox.name} if inbox else None,
        "secret": webhook.secret,
        "enabled": webhook.enabled,
        "disabled_reason": webhook.disabled_reason,
        "disabled_at": webhook.disabled_at.isoformat() if webhook.disabled_at else None,
        "created_at": webhook.created_at.isoformat(),
        "updated_at": webhook.updated_at.isoformat(),
    }


class Recover(Body):
    since: datetime

    @field_validator("since", mode="before")
    @classmethod
    def _unix_or_iso(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return from_unix(value)
        return value
