"""Publishing: an event and one delivery per subscribed endpoint, in the caller's transaction.

Publishing is a row insert, never a network call: if the transaction rolls back no event exists;
if it commits, the worker will deliver it even if this process dies right after.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.models import Delivery, Event
from voxsig.models.webhook import CHATWOOT_FORMAT, VOXSIG_FORMAT
from voxsig.outbox.endpoints import subscribers
from voxsig.outbox.signing import new_message_id
from voxsig.outbox.wake import wake_after_commit

# The event's payload in a payload format other than `voxsig` (views.formats makes them).
InFormat = Callable[[str], dict[str, Any]]


def render(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


async def publish(
    session: AsyncSession,
    account_id: int,
    inbox_id: int | None,
    name: str,
    payload: dict[str, Any],
    conversation_id: int | None = None,
    in_format: InFormat | None = None,
) -> Event | None:
    """Stores `payload` once, and once more in Chatwoot's shapes if an endpoint in that format
    subscribes (`in_format`; without it, such endpoints get `payload`), and queues it for every
    enabled endpoint subscribed to `name`."""
    endpoints = await subscribers(session, account_id, inbox_id, name)
    if not endpoints:
        return None
    chatwoot = in_format is not None and any(e.payload_format == CHATWOOT_FORMAT for e in endpoints)
    event = Event(
        account_id=account_id,
        inbox_id=inbox_id,
        name=name,
        conversation_id=conversation_id,
        body=render(payload),
        chatwoot_body=render(in_format(CHATWOOT_FORMAT)) if chatwoot and in_format else None,
    )
    session.add(event)
    await session.flush()
    await queue(
        session,
        [(event.id, e.id, conversation_id, e.payload_format) for e in endpoints if e.enabled],
    )
    return event


async def queue(
    session: AsyncSession, deliveries: Iterable[tuple[int, int, int | None, str]]
) -> int:
    """Queues one delivery per (event id, endpoint id, conversation id, payload format), due now,
    each with a webhook-id of its own, and wakes the worker once this commits. Returns how
    many."""
    rows = [
        {
            "event_id": event_id,
            "webhook_id": endpoint_id,
            "message_id": new_message_id(),
            # Deliveries of one conversation to one endpoint are sent in order, one at a time.
            "ordering_key": conversation_id,
            "payload_format": payload_format or VOXSIG_FORMAT,
        }
        for event_id, endpoint_id, conversation_id, payload_format in deliveries
    ]
    if rows:
        await session.execute(insert(Delivery), rows)
        await wake_after_commit(session)
    return len(rows)
