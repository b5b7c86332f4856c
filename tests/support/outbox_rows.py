"""Outbox rows for the in-process unit layer (tests/unit), built the way Voxsig builds them: the
models for accounts and endpoints, the real publish function for events and deliveries, each
change in a transaction of its own as a request would make it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from voxsig.db import Database
from voxsig.events import names
from voxsig.kit.clock import utcnow
from voxsig.models import Account, Delivery, DeliveryAttempt, Webhook
from voxsig.outbox.claims import Lease
from voxsig.outbox.publish import publish

SECRET = "whsec_" + "A" * 43 + "="
UNREACHABLE = "http://127.0.0.1:9/hook"  # never sent to: these tests record outcomes directly
# The claims of a worker that never beats: fine where nobody else claims.
LEASE = Lease("unit-test-worker", seconds=60, takeover_seconds=10)


@dataclass(frozen=True)
class Queued:
    account: int
    endpoint: int
    deliveries: list[int]


@dataclass
class Rows:
    db: Database

    async def account(self, name: str = "Acme") -> int:
        async with self.db.transaction() as session:
            account = Account(name=name)
            session.add(account)
            await session.flush()
            return account.id

    async def endpoint(self, account_id: int, *, url: str = UNREACHABLE, **columns: Any) -> int:
        """A webhook endpoint subscribed to message_created; `columns` override the rest."""
        async with self.db.transaction() as session:
            webhook = Webhook(
                account_id=account_id,
                url=url,
                subscriptions=[names.MESSAGE_CREATED],
                secret=SECRET,
                **columns,
            )
            session.add(webhook)
            await session.flush()
            return webhook.id

    async def publish(
        self, account_id: int, conversation_id: int | None = None, *, times: int = 1
    ) -> list[int]:
        """`times` message_created events of `conversation_id` (None: of no conversation), each
        in its own transaction; the ids of the deliveries they queued (one per enabled
        endpoint, in endpoint order), event after event."""
        queued: list[int] = []
        for _ in range(times):
            async with self.db.transaction() as session:
                event = await publish(
                    session,
                    account_id,
                    None,
                    names.MESSAGE_CREATED,
                    {"event": names.MESSAGE_CREATED},
                    conversation_id=conversation_id,
                )
                if event is not None:
                    ids = await session.scalars(
                        select(Delivery.id)
                        .where(Delivery.event_id == event.id)
                        .order_by(Delivery.id)
                    )
                    queued.extend(ids)
        return queued

    async def one_endpoint(self, events: int = 0, conversation_id: int | None = None) -> Queued:
        """A new account with one endpoint, and `events` events published to it."""
        account = await self.account()
        endpoint = await self.endpoint(account)
        return Queued(account, endpoint, await self.publish(account, conversation_id, times=events))

    async def set_delivery(self, delivery_id: int, **values: Any) -> None:
        """Puts a delivery where a test needs it (due earlier, leased, settled...)."""
        async with self.db.transaction() as session:
            await session.execute(
                update(Delivery).where(Delivery.id == delivery_id).values(**values)
            )

    async def set_endpoint(self, webhook_id: int, **values: Any) -> None:
        async with self.db.transaction() as session:
            await session.execute(update(Webhook).where(Webhook.id == webhook_id).values(**values))

    async def delivery(self, delivery_id: int) -> Delivery | None:
        async with self.db.transaction() as session:
            return await session.get(Delivery, delivery_id)

    async def endpoint_row(self, webhook_id: int) -> Webhook:
        async with self.db.transaction() as session:
            webhook = await session.get(Webhook, webhook_id)
            assert webhook is not None
            return webhook

    async def attempts(self) -> list[DeliveryAttempt]:
        async with self.db.transaction() as session:
            rows = await session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id))
            return list(rows)


def seconds_from_now(moment: datetime | None) -> float:
    assert moment is not None
    return (moment - utcnow()).total_seconds()
