"""The outbox: an event and one delivery per subscribed endpoint, in the caller's transaction.

Publishing is a row insert, never a network call: if the transaction rolls back no event exists;
if it commits, the worker will deliver it even if this process dies right after.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.db import request_wake_after_commit
from voxsig.kit.tokens import new_message_id
from voxsig.models import Delivery, Event, Webhook

WAKE_CHANNEL = "voxsig_deliveries"


def render(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Endpoint:
    id: int
    subscriptions: tuple[str, ...]
    enabled: bool


# Run by every change that could publish: built once.
_ENDPOINTS = select(Webhook.id, Webhook.subscriptions, Webhook.enabled).where(
    Webhook.account_id == bindparam("account_id"),
    or_(Webhook.inbox_id.is_(None), Webhook.inbox_id == bindparam("inbox_id")),
)


async def _endpoints(
    session: AsyncSession, account_id: int, inbox_id: int | None
) -> list[Endpoint]:
    """Endpoints that see this inbox's events, read once per transaction."""
    cache: dict[tuple[int, int | None], list[Endpoint]]
    cache = session.info.setdefault("voxsig_endpoints", {})
    key = (account_id, inbox_id)
    if key not in cache:
        rows = await session.execute(_ENDPOINTS, {"account_id": account_id, "inbox_id": inbox_id})
        cache[key] = [Endpoint(wid, tuple(subs or ()), enabled) for wid, subs, enabled in rows]
    return cache[key]


async def subscribers(
    session: AsyncSession, account_id: int, inbox_id: int | None, name: str
) -> list[Endpoint]:
    """Every endpoint subscribed to `name`, disabled ones included: they get no delivery, but
    the event is kept so that recovering the endpoint can send what it missed."""
    endpoints = await _endpoints(session, account_id, inbox_id)
    return [e for e in endpoints if name in e.subscriptions]


async def publish(
    session: AsyncSession,
    account_id: int,
    inbox_id: int | None,
    name: str,
    payload: dict[str, Any],
    conversation_id: int | None = None,
) -> Event | None:
    """Stores `payload` once and queues it for every enabled endpoint subscribed to `name`."""
    endpoints = await subscribers(session, account_id, inbox_id, name)
    if not endpoints:
        return None
    event = Event(
        account_id=account_id,
        inbox_id=inbox_id,
        name=name,
        conversation_id=conversation_id,
        body=render(payload),
    )
    session.add(event)
    await session.flush()
    enabled = [e.id for e in endpoints if e.enabled]
    if not enabled:
        return event
    await session.execute(
        insert(Delivery),
        [
            {
                "event_id": event.id,
                "webhook_id": webhook_id,
                "message_id": new_message_id(),
                "ordering_key": conversation_id,
            }
            for webhook_id in enabled
        ],
    )
    request_wake_after_commit(session)
    if session.get_bind().dialect.name == "postgresql":
        # NOTIFY is transactional: workers in other processes hear it only if this commits.
        await session.execute(text(f"NOTIFY {WAKE_CHANNEL}"))
    return event
