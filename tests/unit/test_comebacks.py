"""An endpoint coming back from a failure streak (outbox/outcomes.py, endpoints.healthy): its
first success offers what failed during the streak for recovery, or, with `auto_recover`,
recovers it at once; a recovery that covers the offer takes it."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from tests.support.outbox_rows import Rows
from voxsig.db import Database
from voxsig.kit.clock import utcnow
from voxsig.models import Webhook
from voxsig.models.webhook import FAILED, PENDING
from voxsig.outbox.claims import Job
from voxsig.outbox.endpoints import Endpoint, of_webhook
from voxsig.outbox.outcomes import record_batch
from voxsig.outbox.policy import Policy
from voxsig.outbox.replay import recover
from voxsig.outbox.transport import Outcome
from voxsig.outbox.wake import WAKE
from voxsig.webhooks.deliveries import failed_since_offers

pytestmark = pytest.mark.anyio
POLICY = Policy((10.0,), connect_timeout=1, total_timeout=2, lease_seconds=60, disable_after=86400)


def close_to_now(moment: datetime | None) -> bool:
    return moment is not None and abs((utcnow() - moment).total_seconds()) < 5


def no_streak_nor_offer(row: Webhook) -> bool:
    return (row.failing_since, row.recovery_offer_since, row.recovery_offer_at) == (None,) * 3


async def succeed(db: Database, rows: Rows, *delivery_ids: int) -> None:
    """Records a 200 for each delivery, in one batch, as the worker would after sending it."""
    batch = []
    for delivery_id in delivery_ids:
        delivery = await rows.delivery(delivery_id)
        assert delivery is not None
        endpoint = Endpoint(delivery.webhook_id, "http://127.0.0.1:9/hook", ("whsec_x",))
        job = Job(delivery.id, endpoint, delivery.message_id, delivery.attempts, "{}")
        batch.append((job, Outcome(time.time(), 5, status=200)))
    async with db.transaction() as session:
        await record_batch(session, batch, POLICY)


async def failed_count(db: Database, webhook_id: int) -> int:
    async with db.transaction() as session:
        webhook = await session.get(Webhook, webhook_id)
        assert webhook is not None
        return (await failed_since_offers(session, [webhook])).get(webhook_id, 0)


async def test_the_first_success_after_a_streak_offers_what_failed_during_it(
    db: Database, rows: Rows
) -> None:
    account = await rows.account()
    back = await rows.endpoint(account)
    fine = await rows.endpoint(account, url="http://b/")
    streak = utcnow() - timedelta(minutes=3)
    await rows.set_endpoint(back, failing_since=streak)
    queued = await rows.publish(account, times=4)  # to each endpoint, event after event
    lost, late, before, now_ok = queued[0::2]
    fine_ok = queued[-1]
    await rows.set_delivery(lost, status=FAILED, updated_at=streak + timedelta(seconds=61))
    await rows.set_delivery(late, status=FAILED, updated_at=streak)
    await rows.set_delivery(before, status=FAILED, updated_at=streak - timedelta(seconds=1))
    # `fine` had no streak: its success in the same batch offers nothing.
    await succeed(db, rows, now_ok, fine_ok)

    row = await rows.endpoint_row(back)
    assert row.failing_since is None
    assert row.recovery_offer_since == streak
    assert close_to_now(row.recovery_offer_at)
    assert await failed_count(db, back) == 2  # not the one that failed before the streak
    untouched = await rows.endpoint_row(fine)
    assert (untouched.recovery_offer_since, untouched.recovery_offer_at) == (None, None)
    assert await failed_count(db, fine) == 0


async def test_a_second_streak_before_the_offer_is_taken_extends_it_back(
    db: Database, rows: Rows
) -> None:
    queued = await rows.one_endpoint(2)
    lost, now_ok = queued.deliveries
    first = utcnow() - timedelta(hours=2)
    came_back = utcnow() - timedelta(hours=1)
    await rows.set_delivery(lost, status=FAILED, updated_at=first + timedelta(minutes=1))
    await rows.set_endpoint(
        queued.endpoint,
        recovery_offer_since=first,
        recovery_offer_at=came_back,
        failing_since=utcnow() - timedelta(minutes=10),
    )
    await succeed(db, rows, now_ok)
    row = await rows.endpoint_row(queued.endpoint)
    assert row.recovery_offer_since == first
    assert close_to_now(row.recovery_offer_at)  # it came back again, now


async def test_a_streak_whose_deliveries_all_got_through_offers_nothing(
    db: Database, rows: Rows
) -> None:
    """Else a later failure, long after, would count under that old streak's offer."""
    queued = await rows.one_endpoint(2)
    streak = utcnow() - timedelta(minutes=3)
    await rows.set_endpoint(queued.endpoint, failing_since=streak, auto_recover=True)
    await rows.set_delivery(
        queued.deliveries[0], status=FAILED, updated_at=streak - timedelta(seconds=1)
    )
    await succeed(db, rows, queued.deliveries[1])
    row = await rows.endpoint_row(queued.endpoint)
    assert no_streak_nor_offer(row)
    before = await rows.delivery(queued.deliveries[0])
    assert before is not None
    assert before.status == FAILED  # not recovered automatically either


async def test_auto_recover_sends_the_streaks_failures_again_at_once_and_wakes_the_worker(
    db: Database, rows: Rows
) -> None:
    account = await rows.account()
    endpoint = await rows.endpoint(account, auto_recover=True)
    streak = utcnow() - timedelta(minutes=3)
    await rows.set_endpoint(endpoint, failing_since=streak)
    lost, before, now_ok = await rows.publish(account, times=3)
    await rows.set_delivery(lost, status=FAILED, attempts=2, updated_at=streak)
    await rows.set_delivery(before, status=FAILED, updated_at=streak - timedelta(seconds=1))
    commits: list[Any] = []
    db.on_commit(lambda info: commits.append(info.get(WAKE)))

    await succeed(db, rows, now_ok)
    assert commits[-1] is True  # the recording transaction's commit wakes the worker
    again = await rows.delivery(lost)
    assert again is not None
    assert (again.status, again.attempts) == (PENDING, 0)
    assert close_to_now(again.next_attempt_at)
    kept = await rows.delivery(before)
    assert kept is not None
    assert kept.status == FAILED
    row = await rows.endpoint_row(endpoint)
    assert no_streak_nor_offer(row)


async def test_a_send_that_succeeds_after_its_endpoint_was_disabled_keeps_the_streak(
    db: Database, rows: Rows
) -> None:
    """Re-enabling offers the recovery from the streak's start; a late success must not erase
    it, nor try an automatic recovery that a disabled endpoint refuses."""
    queued = await rows.one_endpoint(1)
    streak = utcnow() - timedelta(days=6)
    await rows.set_endpoint(
        queued.endpoint,
        failing_since=streak,
        enabled=False,
        disabled_at=utcnow(),
        auto_recover=True,
    )
    await succeed(db, rows, *queued.deliveries)
    row = await rows.endpoint_row(queued.endpoint)
    assert (row.failing_since, row.recovery_offer_since) == (streak, None)
    assert [a.response_status for a in await rows.attempts()] == [200]


async def test_a_recovery_from_the_offers_start_or_earlier_takes_it(
    db: Database, rows: Rows
) -> None:
    queued = await rows.one_endpoint()
    since = utcnow() - timedelta(hours=1)
    await rows.set_endpoint(queued.endpoint, recovery_offer_since=since, recovery_offer_at=utcnow())

    async def recover_from(moment: datetime) -> Webhook:
        async with db.transaction() as session:
            webhook = await session.get(Webhook, queued.endpoint)
            assert webhook is not None
            await recover(session, of_webhook(webhook), moment)
        return await rows.endpoint_row(queued.endpoint)

    later = await recover_from(since + timedelta(seconds=1))
    assert later.recovery_offer_since == since  # what failed before it is still failed
    taken = await recover_from(since)
    assert (taken.recovery_offer_since, taken.recovery_offer_at) == (None, None)


async def test_a_success_without_a_streak_writes_no_more_than_before(
    db: Database, rows: Rows
) -> None:
    """The normal path: one UPDATE of the endpoints that match nothing, no recovery."""
    account = await rows.account()
    await rows.endpoint(account, auto_recover=True)
    (delivery,) = await rows.publish(account)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.split()[0].upper())

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        await succeed(db, rows, delivery)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    writes = [s for s in statements if s in ("UPDATE", "INSERT", "DELETE")]
    assert writes == ["UPDATE", "INSERT", "UPDATE"]  # success, attempts, endpoint health
