"""An outgoing message that an API inbox's callback never accepted is marked `failed`, as in
Chatwoot (lib/webhooks/trigger.rb: a message event whose api_inbox_webhook fails sets the
message's status to failed, with the error as `external_error`). Here it is marked when the
delivery fails for good (its last retry, or a 410), not at the first error, since Voxsig
retries. The worker calls `mark_failed` in the transaction that records the batch."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.events.names import MESSAGE_CREATED, MESSAGE_UPDATED
from voxsig.messages.service import update_message
from voxsig.models import Delivery, Event, Message, Webhook
from voxsig.models.message import OUTGOING, MessageStatus
from voxsig.models.webhook import INBOX_ENDPOINT

FAILED: MessageStatus = "failed"
ERROR_MAX = 500


async def mark_failed(session: AsyncSession, given_up: Sequence[tuple[int, str]]) -> None:
    """`given_up`: (delivery id, its last error) of deliveries that failed for good."""
    errors = dict(given_up)
    rows = await session.execute(
        select(Delivery.id, Event.body)
        .join(Event, Event.id == Delivery.event_id)
        .join(Webhook, Webhook.id == Delivery.webhook_id)
        .where(
            Delivery.id.in_(list(errors)),
            Webhook.kind == INBOX_ENDPOINT,
            Event.name.in_((MESSAGE_CREATED, MESSAGE_UPDATED)),
        )
    )
    for delivery_id, body in rows:
        message_id = _message_id(body)
        message = await session.get(Message, message_id) if message_id else None
        if (
            message is None
            or message.message_type != OUTGOING
            or message.status == FAILED
            or (message.content_attributes or {}).get("deleted")
        ):
            continue
        await update_message(
            session,
            message,
            {
                "status": FAILED,
                "content_attributes": {
                    "external_error": "The inbox's callback URL did not accept it: "
                    + errors[delivery_id][:ERROR_MAX]
                },
            },
        )


def _message_id(body: str) -> int | None:
    """The message's id in the event's body (empty once retention purged it)."""
    try:
        value = json.loads(body).get("id") if body else None
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None
