"""Recording outcomes (outbox/outcomes.py, and the worker's fallback in outbox/loop.py): a batch
of successes and failures in one go, attempts of deleted deliveries dropped, a batch that cannot
be recorded recorded one by one."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import delete

from tests.support.outbox_rows import LEASE, Rows, seconds_from_now
from voxsig.db import Database
from voxsig.models import Delivery, Webhook
from voxsig.models.webhook import FAILED, PENDING, SUCCEEDED
from voxsig.outbox.claims import Job, claim_due
from voxsig.outbox.loop import Worker
from voxsig.outbox.outcomes import record_batch
from voxsig.outbox.policy import Policy
from voxsig.outbox.transport import Outcome, Transport

pytestmark = pytest.mark.anyio
POLICY = Policy((10.0, 300.0), connect_timeout=1, total_timeout=2, lease_seconds=60,
                disable_after=86400)  # fmt: skip


def answered(status: int, **fields: Any) -> Outcome:
    error = {} if 200 <= status < 300 else {"error_class": "http_status"}
    return Outcome(time.time(), 12, status=status, **{**error, **fields})


def failed(error_class: str = "connection") -> Outcome:
    return Outcome(time.time(), 3, error_class=error_class, error_message="refused")


async def claim(db: Database) -> list[Job]:
    async with db.transaction() as session:
        return await claim_due(session, 100, LEASE, {}, 100)


async def record(db: Database, batch: list[tuple[Job, Outcome]]) -> None:
    async with db.transaction() as session:
        await record_batch(session, batch, POLICY)


async def test_successes_and_failures_settle_in_one_batch(db: Database, rows: Rows) -> None:
    await rows.one_endpoint(3)
    ok, retried, refused = await claim(db)
    await record(
        db,
        [
            (ok, answered(200, body="thanks", headers={"x-seen": "1"})),
            (retried, answered(500, body="oops", error_message="HTTP 500")),
            (refused, failed()),
        ],
    )
    done, again, later = [await rows.delivery(j.delivery_id) for j in (ok, retried, refused)]
    assert done is not None
    assert again is not None
    assert later is not None
    assert (done.status, done.attempts, done.locked_until) == (SUCCEEDED, 1, None)
    for row in (again, later):
        assert (row.status, row.attempts, row.locked_until) == (PENDING, 1, None)
        assert 8 <= seconds_from_now(row.next_attempt_at) <= 12  # the first retry, jittered
    attempts = {a.delivery_id: a for a in await rows.attempts()}
    assert len(attempts) == 3
    first = attempts[ok.delivery_id]
    assert (first.response_status, first.response_body, first.error_class) == (200, "thanks", None)
    assert first.response_headers == {"x-seen": "1"}
    assert first.duration_ms == 12
    second = attempts[retried.delivery_id]
    assert (second.response_status, second.error_class, second.error_message) == (
        500,
        "http_status",
        "HTTP 500",
    )
    third = attempts[refused.delivery_id]
    assert (third.response_status, third.error_class, third.error_message) == (
        None,
        "connection",
        "refused",
    )


async def test_the_retry_after_of_a_429_sets_the_next_attempt(db: Database, rows: Rows) -> None:
    await rows.one_endpoint(1)
    (job,) = await claim(db)
    await record(db, [(job, answered(429, headers={"Retry-After": "120"}))])
    row = await rows.delivery(job.delivery_id)
    assert row is not None
    assert 115 <= seconds_from_now(row.next_attempt_at) <= 120


async def test_a_failure_after_the_last_retry_fails_the_delivery(db: Database, rows: Rows) -> None:
    (delivery,) = (await rows.one_endpoint(1)).deliveries
    await rows.set_delivery(delivery, attempts=len(POLICY.schedule))
    (job,) = await claim(db)
    await record(db, [(job, answered(503, headers={"Retry-After": "5"}))])
    row = await rows.delivery(delivery)
    assert row is not None
    assert (row.status, row.attempts, row.locked_until) == (FAILED, 3, None)
    assert len(await rows.attempts()) == 1


async def test_an_attempt_of_a_delivery_deleted_meanwhile_is_dropped(
    db: Database, rows: Rows
) -> None:
    """Deleting a webhook deletes its deliveries while the worker is sending them: their
    outcomes are skipped, the rest of the batch is recorded."""
    account = await rows.account()
    kept_endpoint = await rows.endpoint(account)
    gone_endpoint = await rows.endpoint(account, url="http://b/")
    await rows.publish(account, times=2)
    jobs = await claim(db)
    async with db.transaction() as session:
        await session.execute(delete(Webhook).where(Webhook.id == gone_endpoint))
    batch = [(j, answered(200) if n < 2 else failed()) for n, j in enumerate(jobs)]
    await record(db, batch)
    kept = {j.delivery_id for j in jobs if j.endpoint.id == kept_endpoint}
    assert {a.delivery_id for a in await rows.attempts()} == kept
    assert await rows.delivery(jobs[1].delivery_id) is None


async def test_an_attempt_never_lands_on_a_row_that_took_a_deleted_ones_id(
    db: Database, rows: Rows
) -> None:
    """SQLite hands a deleted row's id to the next insert: the updates match the message id
    too, so the old job's outcome does not settle the new delivery."""
    queued = await rows.one_endpoint(1)
    (job,) = await claim(db)
    async with db.transaction() as session:
        await session.execute(delete(Delivery).where(Delivery.id == job.delivery_id))
    (newcomer,) = await rows.publish(queued.account)
    assert newcomer == job.delivery_id
    await record(db, [(job, answered(200))])
    await record(db, [(job, failed())])
    row = await rows.delivery(newcomer)
    assert row is not None
    assert (row.status, row.attempts, row.message_id != job.message_id) == (PENDING, 0, True)
    assert await rows.attempts() == []


async def test_a_batch_that_cannot_be_recorded_is_recorded_one_by_one(
    db: Database, rows: Rows, caplog: pytest.LogCaptureFixture
) -> None:
    """One outcome that no transaction can store (headers that are not JSON) fails the batch's
    transaction: each outcome is then recorded on its own, so the others are not held back."""
    await rows.one_endpoint(3)
    first, poisoned, last = await claim(db)
    unstorable = answered(500, headers={"x": object()})
    worker = Worker(db, Transport(), POLICY)
    batch = [(first, answered(200)), (poisoned, unstorable), (last, failed())]
    recording = asyncio.create_task(worker._record(batch))
    try:
        for _ in range(200):
            if len(await rows.attempts()) == 2:
                break
            await asyncio.sleep(0.01)
        assert {a.delivery_id for a in await rows.attempts()} == {
            first.delivery_id,
            last.delivery_id,
        }
        assert not recording.done()  # the poisoned one is tried again, after a pause
    finally:
        recording.cancel()
    stuck = await rows.delivery(poisoned.delivery_id)
    assert stuck is not None
    assert (stuck.attempts, stuck.locked_until is not None) == (0, True)  # its lease keeps it
    assert "recording 3 attempt(s) failed" in caplog.text
