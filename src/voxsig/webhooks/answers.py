"""What the API answers about endpoints of any kind (an account's webhooks, an inbox's
callback): the endpoint with its backlog and offer, a page of its delivery log, one delivery
with its attempts. webhooks/api.py and inboxes/api.py both answer with these."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.models import Webhook
from voxsig.views.webhooks import attempt_json, delivery_json, sent_body, webhook_json
from voxsig.webhooks import backlog, deliveries, service

JSON = dict[str, Any]


async def endpoints_json(
    session: AsyncSession, webhooks: list[Webhook], default_cap: int
) -> list[JSON]:
    """Their JSON; their backlogs and offers are counted in a few queries for them all."""
    standing = await backlog.standings(session, webhooks, default_cap)
    return [webhook_json(w, await service.inbox_of(session, w), standing[w.id]) for w in webhooks]


async def endpoint_json(session: AsyncSession, webhook: Webhook, default_cap: int) -> JSON:
    (answer,) = await endpoints_json(session, [webhook], default_cap)
    return answer


async def delivery_page(
    session: AsyncSession, webhook: Webhook, status: str | None, event: str | None, page: int
) -> JSON:
    total, rows = await deliveries.list_deliveries(session, webhook, status, event, page)
    return {
        "meta": {"count": total, "current_page": page},
        "payload": [delivery_json(d, e) for d, e in rows],
    }


async def delivery_shown(session: AsyncSession, webhook: Webhook, delivery_id: int) -> JSON:
    delivery, event = await deliveries.get_delivery(session, webhook, delivery_id)
    attempts = await deliveries.attempts_of(session, delivery)
    return {
        "payload": {
            **delivery_json(delivery, event),
            "request_body": sent_body(delivery, event),
            "attempts": [attempt_json(a) for a in attempts],
        }
    }
