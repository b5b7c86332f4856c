"""Claims (outbox/claims.py) on a real database: each endpoint's cap, one delivery at a time
per conversation and endpoint, oldest due first, and leases."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from tests.support.outbox_rows import Rows, seconds_from_now
from voxsig.db import Database
from voxsig.kit.clock import utcnow
from voxsig.models import Worker
from voxsig.models.webhook import SUCCEEDED
from voxsig.outbox import heartbeat
from voxsig.outbox.claims import INTERRUPTED, Job, Lease, claim_due, renew_leases

pytestmark = pytest.mark.anyio
LEASE = 60.0
TAKEOVER = 10.0
# Two workers: `ME` claims unless a test says otherwise.
ME = Lease("me", LEASE, TAKEOVER)
OTHER = Lease("other", LEASE, TAKEOVER)


async def claim_jobs(
    db: Database,
    limit: int = 100,
    room: dict[int, int] | None = None,
    cap: int = 100,
    in_flight: tuple[int, ...] = (),
    lease: Lease = ME,
    caps: dict[int, int] | None = None,
) -> list[Job]:
    """Claims as a live worker does: its heartbeat beaten first."""
    await beat(db, lease)
    async with db.transaction() as session:
        return await claim_due(session, limit, lease, room or {}, cap, in_flight, caps)


async def beat(db: Database, *workers: Lease) -> None:
    for worker in workers:
        async with db.transaction() as session:
            await heartbeat.beat(session, worker.worker_id)


async def claim(db: Database, **options: Any) -> list[int]:
    """The ids claimed, in the order claimed (options as `claim_jobs`)."""
    return [job.delivery_id for job in await claim_jobs(db, **options)]


# -- the per-endpoint cap ---------------------------------------------------------------------


async def test_no_endpoint_gets_more_than_its_cap(db: Database, rows: Rows) -> None:
    account = await rows.account()
    first, second = await rows.endpoint(account), await rows.endpoint(account, url="http://b/")
    published = await rows.publish(account, times=4)  # one delivery to each endpoint per event
    jobs = await claim_jobs(db, cap=2)
    assert sorted(j.endpoint.id for j in jobs) == [first, first, second, second]
    assert [j.delivery_id for j in jobs] == published[:4]  # the oldest two of each


async def test_the_cap_counts_what_the_worker_already_has_in_flight(
    db: Database, rows: Rows
) -> None:
    account = await rows.account()
    busy, idle = await rows.endpoint(account), await rows.endpoint(account, url="http://b/")
    await rows.publish(account, times=3)
    jobs = await claim_jobs(db, room={busy: 2, idle: 1}, cap=3)
    assert sorted(j.endpoint.id for j in jobs) == [busy, idle, idle]
    # An endpoint at its cap gets nothing more; when it has room again, it gets the rest.
    assert [j.endpoint.id for j in await claim_jobs(db, room={busy: 3}, cap=3)] == [idle]
    assert [j.endpoint.id for j in await claim_jobs(db, room={busy: 1}, cap=3)] == [busy, busy]


async def test_an_endpoint_at_its_cap_does_not_use_up_the_claim(db: Database, rows: Rows) -> None:
    """Its deliveries are left out of the query, so a hanging endpoint's backlog (the oldest
    due) cannot fill every claim and starve the others."""
    account = await rows.account()
    hanging = await rows.endpoint(account)
    await rows.publish(account, times=5)
    other = await rows.endpoint(account, url="http://b/")
    fresh = await rows.publish(account)
    jobs = await claim_jobs(db, limit=2, room={hanging: 3}, cap=3)
    assert [(j.delivery_id, j.endpoint.id) for j in jobs] == [(fresh[1], other)]


async def test_the_limit_bounds_the_whole_claim(db: Database, rows: Rows) -> None:
    published = (await rows.one_endpoint(5)).deliveries
    assert await claim(db, limit=2) == published[:2]
    assert await claim(db, limit=10) == published[2:]


async def test_a_disabled_endpoints_deliveries_are_not_claimed(db: Database, rows: Rows) -> None:
    queued = await rows.one_endpoint(2)
    webhook, published = queued.endpoint, queued.deliveries
    await rows.set_endpoint(webhook, enabled=False)
    assert await claim(db) == []
    await rows.set_endpoint(webhook, enabled=True)
    assert await claim(db) == published


# -- ordering -----------------------------------------------------------------------------------


async def test_one_conversations_deliveries_go_one_at_a_time_in_order(
    db: Database, rows: Rows
) -> None:
    first, second, third = (await rows.one_endpoint(3, conversation_id=7)).deliveries
    assert await claim(db) == [first]
    assert await claim(db) == []  # the first is in flight (leased): the rest wait for it
    await rows.set_delivery(first, status=SUCCEEDED, locked_until=None)
    assert await claim(db) == [second]
    await rows.set_delivery(second, status=SUCCEEDED, locked_until=None)
    assert await claim(db) == [third]


async def test_other_conversations_and_other_endpoints_are_not_held_back(
    db: Database, rows: Rows
) -> None:
    account = await rows.account()
    await rows.endpoint(account)
    await rows.endpoint(account, url="http://b/")
    seven_a, seven_b = await rows.publish(account, 7)
    later_seven = await rows.publish(account, 7)
    eight = await rows.publish(account, 8)
    loose = await rows.publish(account, None) + await rows.publish(account, None)
    claimed = await claim(db)
    # Each endpoint gets conversation 7's first and 8's first; events of no conversation are
    # not ordered at all.
    assert claimed == [seven_a, seven_b, *eight, *loose]
    assert not set(later_seven) & set(claimed)


async def test_a_delivery_waiting_for_its_retry_holds_nothing_back(
    db: Database, rows: Rows
) -> None:
    """Once its attempt failed and its retry is scheduled, the next event of the conversation
    goes: a receiver that keeps failing one event does not stall the conversation for hours."""
    first, second = (await rows.one_endpoint(2, conversation_id=7)).deliveries
    assert await claim(db) == [first]
    retry_at = utcnow() + timedelta(minutes=5)
    await rows.set_delivery(first, attempts=1, locked_until=None, next_attempt_at=retry_at)
    assert await claim(db) == [second]


async def test_an_earlier_delivery_that_is_due_goes_first(db: Database, rows: Rows) -> None:
    """...but once its retry is due again it is the conversation's next, before later ones."""
    first, second, third = (await rows.one_endpoint(3, conversation_id=7)).deliveries
    now = utcnow()
    await rows.set_delivery(first, attempts=1, next_attempt_at=now - timedelta(seconds=1))
    await rows.set_delivery(second, next_attempt_at=now - timedelta(seconds=30))
    assert await claim(db) == [first]
    assert third not in await claim(db)


# -- oldest due first -------------------------------------------------------------------------


async def test_the_oldest_due_are_claimed_first(db: Database, rows: Rows) -> None:
    published = (await rows.one_endpoint(4)).deliveries
    now = utcnow()
    for delivery, minutes_ago in zip(published, (1, 30, 10, 20), strict=True):
        await rows.set_delivery(delivery, next_attempt_at=now - timedelta(minutes=minutes_ago))
    await rows.set_delivery(published[0], next_attempt_at=now + timedelta(minutes=1))  # not due
    assert await claim(db, limit=2) == [published[1], published[3]]
    assert await claim(db) == [published[2]]


async def test_an_endpoint_of_its_own_cap_gets_that_many_and_no_more(
    db: Database, rows: Rows
) -> None:
    account = await rows.account()
    narrow = await rows.endpoint(account, max_in_flight=1)
    wide = await rows.endpoint(account, url="http://b/", max_in_flight=5)
    usual = await rows.endpoint(account, url="http://c/")
    await rows.publish(account, times=6)
    jobs = await claim_jobs(db, cap=3)
    assert Counter(j.endpoint.id for j in jobs) == {narrow: 1, wide: 5, usual: 3}
    assert {j.endpoint.id: j.endpoint.max_in_flight for j in jobs} == {
        narrow: 1,
        wide: 5,
        usual: None,
    }
    # Known to be at its own cap, an endpoint is skipped by the query: its oldest delivery,
    # the oldest due of all, does not take the claim's one slot.
    jobs = await claim_jobs(db, limit=1, room={narrow: 1}, cap=3, caps={narrow: 1})
    assert [j.endpoint.id for j in jobs] == [usual]


# -- leases -----------------------------------------------------------------------------------


async def test_a_claim_is_a_lease_and_a_leased_delivery_is_not_claimed_again(
    db: Database, rows: Rows
) -> None:
    (delivery,) = (await rows.one_endpoint(1)).deliveries
    assert await claim(db) == [delivery]
    row = await rows.delivery(delivery)
    assert row is not None
    assert LEASE - 5 < seconds_from_now(row.locked_until) <= LEASE
    assert (row.status, row.attempts) == ("pending", 0)  # a lease changes nothing else
    assert await claim(db) == []


async def test_once_its_lease_runs_out_a_delivery_is_claimed_again(
    db: Database, rows: Rows
) -> None:
    """A worker that died mid-send loses nothing: another one sends it after the lease."""
    (delivery,) = (await rows.one_endpoint(1)).deliveries
    assert await claim(db, lease=OTHER) == [delivery]
    await rows.set_delivery(delivery, locked_until=utcnow() - timedelta(seconds=1))
    # Not by the worker still sending it, whatever its lease says...
    assert await claim(db, in_flight=(delivery,), lease=OTHER) == []
    # ...but by any other, which records the send that came to nothing known.
    assert await claim(db) == [delivery]
    (attempt,) = await rows.attempts()
    assert (attempt.delivery_id, attempt.error_class) == (delivery, INTERRUPTED)
    assert attempt.error_message is not None
    assert "lease of worker other ran out" in attempt.error_message
    row = await rows.delivery(delivery)
    assert row is not None
    assert (row.leased_by, row.attempts) == ("me", 0)  # not a try of the retry schedule


async def test_renewing_extends_the_lease_of_what_is_still_in_flight(
    db: Database, rows: Rows
) -> None:
    sending, settled, unclaimed = (await rows.one_endpoint(3)).deliveries
    await claim(db, limit=2)
    soon = utcnow() + timedelta(seconds=2)
    await rows.set_delivery(sending, locked_until=soon)
    await rows.set_delivery(settled, status=SUCCEEDED, locked_until=soon)
    async with db.transaction() as session:
        await renew_leases(session, [sending, settled, unclaimed], Lease("me", 600, TAKEOVER))
    renewed, done, free = [await rows.delivery(d) for d in (sending, settled, unclaimed)]
    assert renewed is not None
    assert done is not None
    assert free is not None
    assert seconds_from_now(renewed.locked_until) > 590
    assert seconds_from_now(done.locked_until) < 5  # settled: nothing to renew
    assert free.locked_until is None  # never claimed: renewing does not claim it


async def test_a_job_carries_everything_sending_needs(db: Database, rows: Rows) -> None:
    """Both secrets during a rotation, the old one only until it expires."""
    account = await rows.account()
    rotating = await rows.endpoint(
        account,
        previous_secret="whsec_old",
        previous_secret_expires_at=utcnow() + timedelta(hours=1),
    )
    expired = await rows.endpoint(
        account,
        url="http://b/",
        previous_secret="whsec_old",
        previous_secret_expires_at=utcnow() - timedelta(seconds=1),
    )
    await rows.publish(account, 7)
    jobs = {job.endpoint.id: job for job in await claim_jobs(db)}
    assert len(jobs[rotating].endpoint.secrets) == 2
    assert jobs[rotating].endpoint.secrets[1] == "whsec_old"
    assert len(jobs[expired].endpoint.secrets) == 1
    assert jobs[rotating].body == '{"event":"message_created"}'
    assert jobs[rotating].endpoint.url == "http://127.0.0.1:9/hook"
    assert jobs[rotating].message_id.startswith("msg_")
    assert jobs[rotating].message_id != jobs[expired].message_id


async def test_a_lease_of_a_worker_whose_heartbeat_stopped_is_taken_over_before_it_runs_out(
    db: Database, rows: Rows
) -> None:
    """PostgreSQL's many workers: a dead one's claims are not waited out for a whole lease."""
    dead, alive, unclaimed = (await rows.one_endpoint(3)).deliveries
    assert await claim(db, limit=1, lease=OTHER) == [dead]
    assert await claim(db, limit=1, lease=Lease("third", LEASE, TAKEOVER)) == [alive]
    assert await claim(db) == [unclaimed]  # both leases hold while their workers beat
    assert await rows.attempts() == []  # an ordinary claim writes no attempt
    async with db.transaction() as session:  # `other` beat last 11 s ago: it is dead
        await session.execute(
            update(Worker)
            .where(Worker.id == "other")
            .values(heartbeat_at=utcnow() - timedelta(seconds=TAKEOVER + 1))
        )
    assert await claim(db, in_flight=(unclaimed,)) == [dead]
    row = await rows.delivery(dead)
    assert row is not None
    assert row.leased_by == "me"
    assert seconds_from_now(row.locked_until) > LEASE - 5
    (attempt,) = await rows.attempts()
    assert attempt.error_class == INTERRUPTED
    assert attempt.error_message is not None
    assert "worker other stopped" in attempt.error_message


async def test_a_worker_that_forgets_the_others_takes_their_leases_at_once(
    db: Database, rows: Rows
) -> None:
    """A restarted SQLite worker (it holds voxsig.lock) takes its dead predecessor's claims
    instead of waiting their lease out; what is settled is left as it is."""
    one, two, settled, unclaimed = (await rows.one_endpoint(4)).deliveries
    assert await claim(db, limit=3, lease=OTHER) == [one, two, settled]
    await rows.set_delivery(settled, status=SUCCEEDED)
    assert await claim(db) == [unclaimed]  # the leased ones are not claimable...
    async with db.transaction() as session:
        assert await heartbeat.forget_others(session, "me") == 1  # `other`
    # ...and once their worker is forgotten, they are claimed at once, oldest first, each
    # with its interrupted send on record.
    assert await claim(db, in_flight=(unclaimed,)) == [one, two]
    assert sorted(a.delivery_id for a in await rows.attempts()) == [one, two]


async def test_renewing_never_extends_a_lease_another_worker_took_over(
    db: Database, rows: Rows
) -> None:
    (delivery,) = (await rows.one_endpoint(1)).deliveries
    assert await claim(db, lease=OTHER) == [delivery]
    async with db.transaction() as session:  # stopped: what it held is taken over at once
        await heartbeat.forget(session, "other")
    assert await claim(db) == [delivery]
    soon = utcnow() + timedelta(seconds=30)
    await rows.set_delivery(delivery, locked_until=soon)
    async with db.transaction() as session:
        await renew_leases(session, [delivery], Lease("other", 600, TAKEOVER))
    row = await rows.delivery(delivery)
    assert row is not None
    assert seconds_from_now(row.locked_until) < 31
