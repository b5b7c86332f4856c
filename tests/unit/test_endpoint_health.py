"""Endpoint health as outcomes are recorded (outbox/outcomes.py): a failure starts the failure
streak, any success ends it, a streak as long as `disable_after` disables the endpoint, and a
410 Gone disables it at once."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from tests.support.outbox_rows import LEASE, Rows
from voxsig import metrics
from voxsig.db import Database
from voxsig.kit.clock import utcnow
from voxsig.models import Webhook
from voxsig.models.webhook import FAILED, PENDING
from voxsig.outbox.claims import Job, claim_due
from voxsig.outbox.endpoints import of_webhook
from voxsig.outbox.outcomes import record_batch
from voxsig.outbox.policy import Policy
from voxsig.outbox.replay import recover
from voxsig.outbox.transport import Outcome

pytestmark = pytest.mark.anyio
DAY = 86400.0
POLICY = Policy((10.0, 300.0), connect_timeout=1, total_timeout=2, lease_seconds=60,
                disable_after=2 * DAY)  # fmt: skip


def answer(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome(time.time(), 5, status=status)
    return Outcome(
        time.time(), 5, status, error_class="http_status", error_message=f"HTTP {status}"
    )


def refused() -> Outcome:
    return Outcome(time.time(), 5, error_class="connection", error_message="refused")


async def send(db: Database, *outcomes: Outcome) -> list[Job]:
    """Claims one due delivery per outcome and records them as one batch."""
    async with db.transaction() as session:
        jobs = await claim_due(session, len(outcomes), LEASE, {}, 100)
    assert len(jobs) == len(outcomes)
    async with db.transaction() as session:
        await record_batch(session, list(zip(jobs, outcomes, strict=True)), POLICY)
    return jobs


async def test_a_failure_starts_the_failure_streak(db: Database, rows: Rows) -> None:
    webhook = (await rows.one_endpoint(2)).endpoint
    await send(db, refused())
    streak = (await rows.endpoint_row(webhook)).failing_since
    assert streak is not None
    assert abs((utcnow() - streak).total_seconds()) < 5
    # A later failure does not move the streak's start.
    await rows.set_endpoint(webhook, failing_since=streak - timedelta(hours=3))
    await send(db, answer(500))
    row = await rows.endpoint_row(webhook)
    assert row.failing_since == streak - timedelta(hours=3)
    assert row.enabled


async def test_a_success_ends_the_streak(db: Database, rows: Rows) -> None:
    webhook = (await rows.one_endpoint(1)).endpoint
    await rows.set_endpoint(webhook, failing_since=utcnow() - timedelta(hours=1))
    await send(db, answer(200))
    assert (await rows.endpoint_row(webhook)).failing_since is None


async def test_one_success_in_a_batch_keeps_the_endpoint_healthy(db: Database, rows: Rows) -> None:
    """Even a streak past `disable_after`: the endpoint answered, so it is not disabled."""
    webhook = (await rows.one_endpoint(3)).endpoint
    await rows.set_endpoint(webhook, failing_since=utcnow() - timedelta(days=3))
    await send(db, refused(), answer(200), answer(500))
    row = await rows.endpoint_row(webhook)
    assert (row.enabled, row.failing_since) == (True, None)


async def test_a_streak_as_long_as_disable_after_disables_the_endpoint(
    db: Database, rows: Rows
) -> None:
    webhook = (await rows.one_endpoint(2)).endpoint
    await rows.set_endpoint(webhook, failing_since=utcnow() - timedelta(seconds=2 * DAY - 60))
    await send(db, refused())
    assert (await rows.endpoint_row(webhook)).enabled  # a minute short
    await rows.set_endpoint(webhook, failing_since=utcnow() - timedelta(seconds=2 * DAY + 1))
    await send(db, answer(500))
    row = await rows.endpoint_row(webhook)
    assert not row.enabled
    assert row.disabled_at is not None
    assert abs((utcnow() - row.disabled_at).total_seconds()) < 5
    assert row.disabled_reason == "Every attempt failed for 2 days; last error: HTTP 500"


async def test_a_disabled_endpoint_keeps_its_first_reason(db: Database, rows: Rows) -> None:
    webhook = (await rows.one_endpoint(2)).endpoint
    await rows.set_endpoint(webhook, failing_since=utcnow() - timedelta(days=3))
    await send(db, refused())
    assert (await rows.endpoint_row(webhook)).disabled_reason == (
        "Every attempt failed for 2 days; last error: refused"
    )
    async with db.transaction() as session:  # sending what was in flight when it was disabled
        jobs = await claim_due(session, 1, LEASE, {}, 100)
    assert jobs == []


async def test_410_gone_disables_at_once(db: Database, rows: Rows) -> None:
    webhook = (await rows.one_endpoint(1)).endpoint
    await send(db, answer(410))
    row = await rows.endpoint_row(webhook)
    assert not row.enabled
    assert row.disabled_reason == "The endpoint answered 410 Gone"


async def test_410_wins_over_a_success_in_the_same_batch(db: Database, rows: Rows) -> None:
    webhook = (await rows.one_endpoint(2)).endpoint
    await send(db, answer(200), answer(410))
    assert not (await rows.endpoint_row(webhook)).enabled


async def test_health_is_per_endpoint(db: Database, rows: Rows) -> None:
    account = await rows.account()
    failing = await rows.endpoint(account)
    fine = await rows.endpoint(account, url="http://b/")
    await rows.set_endpoint(fine, failing_since=utcnow() - timedelta(hours=1))
    await rows.publish(account)
    jobs = await send(db, answer(503), answer(204))
    assert [j.endpoint.id for j in jobs] == [failing, fine]
    assert (await rows.endpoint_row(failing)).failing_since is not None
    assert (await rows.endpoint_row(fine)).failing_since is None


async def test_the_delivery_that_got_a_410_is_failed_and_recover_includes_it(
    db: Database, rows: Rows
) -> None:
    queued = await rows.one_endpoint(1)
    await send(db, answer(410))
    delivery = await rows.delivery(queued.deliveries[0])
    assert delivery is not None
    assert (delivery.status, delivery.attempts, delivery.locked_until) == (FAILED, 1, None)
    assert [a.response_status for a in await rows.attempts()] == [410]
    row = await rows.endpoint_row(queued.endpoint)
    # Settled no later than the disable, so the recovery offered on re-enabling sends it.
    assert row.disabled_at is not None
    assert delivery.updated_at <= row.disabled_at
    await rows.set_endpoint(queued.endpoint, enabled=True)
    async with db.transaction() as session:
        webhook = await session.get(Webhook, queued.endpoint)
        assert webhook is not None
        counts = await recover(session, of_webhook(webhook), row.disabled_at)
    assert counts == {"redelivered": 1, "recovered": 0}
    again = await rows.delivery(queued.deliveries[0])
    assert again is not None
    assert again.status == PENDING


async def test_metrics_count_only_pending_deliveries_of_enabled_endpoints(
    db: Database, rows: Rows
) -> None:
    account = await rows.account()
    gone = await rows.endpoint(account)
    other = await rows.endpoint(account, url="http://b/")
    await rows.publish(account, times=2)  # two deliveries to each endpoint
    await rows.set_endpoint(other, enabled=False)  # e.g. disabled by `disable_after`
    await send(db, answer(410))  # the oldest delivery to `gone`
    assert not (await rows.endpoint_row(gone)).enabled
    text = (await metrics.render(db)).decode()
    assert "voxsig_webhook_pending_deliveries 0.0" in text
    assert "voxsig_webhook_oldest_pending_seconds 0.0" in text
    await rows.set_endpoint(gone, enabled=True)
    text = (await metrics.render(db)).decode()
    assert "voxsig_webhook_pending_deliveries 1.0" in text  # the other delivery to `gone`
