"""The outbox seen from a test: events published straight into a deployment's database, its
delivery rows read back, and the delivery log polled over the API until a delivery settles."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from tests.support.client import JSON, ApiClient, ok
from tests.support.factories import subscribe
from tests.support.receiver import Received, Receiver
from tests.support.waiting import wait_until
from tests.support.webhook_schema import SYNTHETIC

# Six event names exist; endpoints of a burst each subscribe to a different one, so a burst of
# N events per name makes exactly N deliveries per endpoint.
BURST_EVENTS = (
    "message_created",
    "message_updated",
    "conversation_created",
    "conversation_updated",
    "conversation_status_changed",
)


def publish_events(
    database_url: str, account_id: int, per_name: Mapping[str, int], tag: str = ""
) -> None:
    """Publishes events through Voxsig's real outbox function, all in one transaction: each
    body carries its name, a sequence number and `tag`, so every event body is unique (and the
    SYNTHETIC mark, so the receiver does not hold them to the events' schemas)."""
    from voxsig.db import Database
    from voxsig.outbox.publish import publish

    async def run() -> None:
        db = Database(database_url)
        try:
            async with db.transaction() as session:
                for name, count in per_name.items():
                    for seq in range(count):
                        payload = {"event": name, "seq": seq, "tag": tag, SYNTHETIC: True}
                        await publish(session, account_id, None, name, payload)
        finally:
            await db.dispose()

    asyncio.run(run())


def delivery_rows(database_url: str) -> list[tuple[str, str, str]]:
    """(message_id, status, event body) of every delivery in the database."""
    from sqlalchemy import select

    from voxsig.db import Database
    from voxsig.models import Delivery, Event

    async def run() -> list[tuple[str, str, str]]:
        db = Database(database_url)
        try:
            async with db.sessions() as session:
                rows = await session.execute(
                    select(Delivery.message_id, Delivery.status, Event.body).join(
                        Event, Event.id == Delivery.event_id
                    )
                )
                return [(m, s, b) for m, s, b in rows]
        finally:
            await db.dispose()

    return asyncio.run(run())


def subscribe_burst_endpoints(api: ApiClient, receiver: Receiver, count: int) -> list[str]:
    """`count` endpoints, /burst-<name>, each subscribed to one event name; returns paths."""
    paths = []
    for name in BURST_EVENTS[:count]:
        path = f"/burst-{name}"
        subscribe(api, receiver, path, [name])
        paths.append(path)
    return paths


def webhook_ids(requests: list[Received]) -> list[str]:
    return [r.headers["webhook-id"] for r in requests]


def only_delivery(api: ApiClient, webhook_id: int, status: str | None = None) -> JSON:
    params = {"status": status} if status else {}
    listed = ok(api.get(f"webhooks/{webhook_id}/deliveries", params=params))
    assert listed["meta"]["count"] == 1, listed
    delivery: JSON = listed["payload"][0]
    return delivery


def delivery_detail(api: ApiClient, webhook_id: int, delivery_id: int) -> JSON:
    detail: JSON = ok(api.get(f"webhooks/{webhook_id}/deliveries/{delivery_id}"))["payload"]
    return detail


def wait_for_settled(
    api: ApiClient, webhook_id: int, delivery_id: int, status: str, attempts: int, timeout: float
) -> JSON:
    """Polls the delivery until it has `status` and `attempts` recorded attempts."""
    seen: JSON = {}

    def settled() -> bool:
        nonlocal seen
        seen = delivery_detail(api, webhook_id, delivery_id)
        return seen["status"] == status and len(seen["attempts"]) == attempts

    wait_until(settled, timeout, lambda: f"delivery is {seen}", step=0.1)
    return seen


def wait_for_attempts(
    api: ApiClient,
    webhook_id: int,
    delivery_id: int,
    count: int,
    timeout: float,
    logs: Callable[[], str] = str,
) -> JSON:
    """Polls the delivery until at least `count` attempts are recorded."""
    seen: JSON = {}

    def attempted() -> bool:
        nonlocal seen
        seen = delivery_detail(api, webhook_id, delivery_id)
        return len(seen["attempts"]) >= count

    wait_until(attempted, timeout, lambda: f"delivery is {seen}\n{logs()}", step=0.1)
    return seen
