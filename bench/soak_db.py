"""The soak's view of Voxsig's database, per webhook, through `voxsig.db` and the models (as
harness/database.py does): what the delivery log says, to hold against what the receivers got.
Each call opens its own engine and closes it; SQLite in WAL mode lets it read beside the server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from harness.database import in_session
from voxsig.kit.clock import utcnow
from voxsig.models import Delivery, DeliveryAttempt, Event, Message
from voxsig.models.webhook import PENDING, SUCCEEDED

CHUNK = 500  # ids per IN (...): well under SQLite's bound-parameter limit


def snapshot(url: str) -> dict[int, dict[str, Any]]:
    """Per webhook id: deliveries by status, the message ids (webhook-id) of the succeeded
    ones, attempts by error class (`ok` for none), and the events it has no delivery of."""

    async def work(session: AsyncSession) -> dict[int, dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}

        def of(wid: int) -> dict[str, Any]:
            empty = {"status": {}, "succeeded_ids": [], "attempts": {}, "unqueued": 0}
            return found.setdefault(int(wid), empty)

        by_status = select(Delivery.webhook_id, Delivery.status, func.count()).group_by(
            Delivery.webhook_id, Delivery.status
        )
        for wid, status, n in await session.execute(by_status):
            of(wid)["status"][str(status)] = int(n)
        succeeded = select(Delivery.webhook_id, Delivery.message_id).where(
            Delivery.status == SUCCEEDED
        )
        for wid, mid in await session.execute(succeeded):
            of(wid)["succeeded_ids"].append(str(mid))
        attempts = (
            select(Delivery.webhook_id, DeliveryAttempt.error_class, func.count())
            .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
            .group_by(Delivery.webhook_id, DeliveryAttempt.error_class)
        )
        for wid, error, n in await session.execute(attempts):
            of(wid)["attempts"][str(error or "ok")] = int(n)
        for wid in list(found):
            never = select(func.count(Event.id)).where(
                ~exists().where(Delivery.event_id == Event.id, Delivery.webhook_id == wid)
            )
            found[wid]["unqueued"] = int(await session.scalar(never) or 0)
        return found

    return in_session(url, work)


def leased(url: str) -> dict[int, list[str]]:
    """Per webhook id, the message ids of the pending deliveries under a lease: after a kill,
    what the dead worker had claimed and not recorded."""

    async def work(session: AsyncSession) -> dict[int, list[str]]:
        rows = await session.execute(
            select(Delivery.webhook_id, Delivery.message_id).where(
                Delivery.status == PENDING, Delivery.locked_until.is_not(None)
            )
        )
        found: dict[int, list[str]] = {}
        for wid, mid in rows:
            found.setdefault(int(wid), []).append(str(mid))
        return found

    return in_session(url, work)


def pending_state(url: str) -> dict[str, Any]:
    """The pending deliveries, how many of them are due now or leased, and the seconds until
    the next of the others comes due (None: there is none)."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        now = utcnow()
        pending = Delivery.status == PENDING
        total = await session.scalar(select(func.count(Delivery.id)).where(pending))
        due_now = (Delivery.next_attempt_at <= now) | Delivery.locked_until.is_not(None)
        due = await session.scalar(select(func.count(Delivery.id)).where(pending, due_now))
        later = await session.scalar(
            select(func.min(Delivery.next_attempt_at)).where(pending, ~due_now)
        )
        return {
            "pending": int(total or 0),
            "due": int(due or 0),
            "next_in": None if later is None else (later - now).total_seconds(),
        }

    return in_session(url, work)


def missing_messages(url: str, ids: Sequence[int]) -> list[int]:
    """The ids among `ids` that no message row has."""

    async def work(session: AsyncSession) -> list[int]:
        stored: set[int] = set()
        for i in range(0, len(ids), CHUNK):
            chunk = list(ids[i : i + CHUNK])
            stored |= set(await session.scalars(select(Message.id).where(Message.id.in_(chunk))))
        return [i for i in ids if i not in stored]

    return in_session(url, work)
