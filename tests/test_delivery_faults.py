"""Workers under faults, over the wire: a worker SIGKILLed three times during a burst of 5,000
events, two workers racing on PostgreSQL, and a live worker that must not re-send what it still
has in flight. Every Voxsig here is a real subprocess on a database of its own (the `deploy`
fixture), and every webhook lands on a real HTTP receiver on 127.0.0.1. What the endpoint's
answers do to a delivery (retries, Retry-After, 410 Gone, redelivery...) is in
test_delivery_outcomes.py.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import random
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from tests.conftest import Backend
from tests.support.deliveries import (
    BURST_EVENTS,
    delivery_detail,
    delivery_rows,
    only_delivery,
    publish_events,
    subscribe_burst_endpoints,
    webhook_ids,
)
from tests.support.deployment import FAST, LEASE_SECONDS, DeployFactory
from tests.support.factories import new_conversation, post_message, subscribe
from tests.support.receiver import Received, Receiver, Reply
from tests.support.waiting import wait_until

# -- a. a worker SIGKILLed three times mid-burst loses nothing ------------------------------

BURST_PER_ENDPOINT = 1000
BURST_ENDPOINTS = 5
MAX_IN_FLIGHT = 64
KILLS = 3
# Each kill comes once this fraction (drawn at random) of the deliveries still missing when the
# worker started has arrived: mid-burst every time, with work left for the next worker.
KILL_FRACTIONS = (0.15, 0.5)
# How long after a kill the receiver may still be reading what the killed worker sent; the
# next worker is started only after it, so every request is told apart by when it arrived.
KILL_GRACE = 0.5
# A little latency per request, so every kill finds requests in flight. Measured: the receiver
# takes about 1,000 requests a second from 64 concurrent senders with 0 to 10 ms of delay (half
# that with 20 ms), faster than a worker sends, so the receiver never paces the burst.
BURST_DELAY = 0.005


def drill_seed() -> int:
    """The seed of a drill's random choices: $DRILL_SEED to repeat a run, else a fresh one."""
    return int(os.environ.get("DRILL_SEED") or random.SystemRandom().randrange(2**32))


def claimed_and_pending(database_url: str) -> tuple[set[str], int]:
    """The message ids of the deliveries claimed but not settled (pending, `locked_until` set:
    a killed worker's claims stay so until re-claimed), and how many are pending in all."""
    from sqlalchemy import select

    from voxsig.db import Database
    from voxsig.models import Delivery
    from voxsig.models.webhook import PENDING

    async def run() -> tuple[set[str], int]:
        db = Database(database_url)
        try:
            async with db.sessions() as session:
                rows = (
                    await session.execute(
                        select(Delivery.message_id, Delivery.locked_until).where(
                            Delivery.status == PENDING
                        )
                    )
                ).all()
                return {m for m, locked in rows if locked is not None}, len(rows)
        finally:
            await db.dispose()

    return asyncio.run(run())


@dataclass
class Kill:
    """One SIGKILL of the drill and what the database held just after it."""

    fraction: float
    arrived: int  # distinct deliveries that had arrived when the worker was dead
    pending: int  # deliveries not yet settled
    claimed: set[str]  # leased and unsettled: what the killed worker may have had in flight
    signalled_at: float
    dead_at: float
    duplicates: int = 0
    cut: int = 0

    def __repr__(self) -> str:
        return (
            f"Kill(after {self.arrived} arrived, {self.pending} pending, {len(self.claimed)} "
            f"claimed; {self.duplicates} sent again, {self.cut} cut short)"
        )


def test_a_worker_killed_thrice_mid_burst_loses_nothing_and_resends_only_what_was_in_flight(
    deploy: DeployFactory, receiver: Receiver, backend: Backend
) -> None:
    seed = drill_seed()
    rng = random.Random(seed)
    print(f"\nseed {seed} (DRILL_SEED={seed} draws the same kill points)")
    deployment = deploy(
        FAST,
        worker_env={
            "VOXSIG_WEBHOOK_LEASE_SECONDS": str(LEASE_SECONDS),
            "VOXSIG_WEBHOOK_MAX_IN_FLIGHT": str(MAX_IN_FLIGHT),
        },
    )
    api = deployment.account()
    paths = subscribe_burst_endpoints(api, receiver, BURST_ENDPOINTS)
    for path in paths:
        receiver.respond(path, *[200] * BURST_PER_ENDPOINT, delay=BURST_DELAY)
    total = BURST_PER_ENDPOINT * BURST_ENDPOINTS

    started = time.monotonic()
    starts = [started]  # when each worker was started; worker n sent what arrived after it
    deployment.start_worker()
    publish_events(
        deployment.database_url,
        api.account_id,
        dict.fromkeys(BURST_EVENTS[:BURST_ENDPOINTS], BURST_PER_ENDPOINT),
    )
    published = time.monotonic()
    body_of = {message_id: body for message_id, _, body in delivery_rows(deployment.database_url)}
    expected = set(body_of)
    assert len(expected) == total

    def arrived() -> int:
        return len(set(webhook_ids(receiver.requests())))

    def wait_for_arrivals(count: int) -> None:
        wait_until(
            lambda: arrived() >= count,
            60,
            lambda: f"{arrived()} of {total} arrived, waiting for {count}\n{deployment.logs()}",
            step=0.01,
        )

    kills: list[Kill] = []
    for _ in range(KILLS):
        fraction = rng.uniform(*KILL_FRACTIONS)
        before = arrived()
        wait_for_arrivals(before + max(1, round(fraction * (total - before))))
        signalled_at = time.monotonic()
        deployment.workers[-1].kill()
        dead_at = time.monotonic()
        at_kill = arrived()
        claimed, pending = claimed_and_pending(deployment.database_url)
        kills.append(Kill(fraction, at_kill, pending, claimed, signalled_at, dead_at))
        assert at_kill < total, f"a kill came after the burst: {kills}"
        assert pending > 0, f"a kill came after the burst: {kills}"
        # SQLite: one worker at a time, so the next starts only now.
        time.sleep(max(0.0, dead_at + KILL_GRACE - time.monotonic()))
        starts.append(time.monotonic())
        deployment.start_worker()

    wait_until(
        lambda: expected <= set(webhook_ids(receiver.requests())),
        60,
        lambda: (
            f"{len(expected - set(webhook_ids(receiver.requests())))} of {total} deliveries "
            f"never arrived (kills: {kills})\n{deployment.logs()}"
        ),
        step=0.1,
    )
    all_arrived = time.monotonic()
    # Settled in the database too (the last outcomes are recorded just after they arrive).
    wait_until(
        lambda: {s for _, s, _ in delivery_rows(deployment.database_url)} == {"succeeded"},
        15,
        lambda: f"statuses: {sorted({s for _, s, _ in delivery_rows(deployment.database_url)})}",
        step=0.2,
    )
    settled = time.monotonic()
    time.sleep(0.5)  # a duplicate sent late would land now

    received = receiver.requests()

    def sender(request: Received) -> int:
        """Index of the worker that sent `request` (the last one started before it arrived)."""
        return bisect.bisect_right(starts, request.at) - 1

    # A request cut short by a kill (headers sent, body not) is not a delivery: no receiver
    # would accept it (its signature cannot verify), and the kill explains it.
    cut = [r for r in received if len(r.body) != int(r.headers["content-length"])]
    for request in cut:
        at = f"at +{request.at - started:.2f} s: {kills}"
        assert sender(request) < KILLS, f"the survivor's request was cut short {at}"
        kill = kills[sender(request)]
        assert kill.signalled_at <= request.at <= kill.dead_at + KILL_GRACE, f"cut short {at}"
        kill.cut += 1
    got = [r for r in received if all(r is not c for c in cut)]
    assert set(webhook_ids(got)) == expected, "a request arrived with an unknown webhook-id"
    for request in got:
        # A duplicate is the same delivery again: same webhook-id, same bytes.
        assert request.body == body_of[request.headers["webhook-id"]].encode()
    assert len({r.body for r in got}) == total, "an event arrived under two different webhook-ids"

    # Who sent each delivery, in order of arrival. A worker never sends one twice (the
    # survivor included); a delivery comes again only after a worker that sent it was killed
    # with it claimed and unsettled, and that kill is what the duplicate is counted against.
    senders: dict[str, list[int]] = {}
    for request in sorted(got, key=lambda r: r.at):
        senders.setdefault(request.headers["webhook-id"], []).append(sender(request))
    for message_id, workers in senders.items():
        assert len(set(workers)) == len(workers), f"{message_id}: one worker sent it twice"
        for previous in workers[:-1]:
            assert previous < KILLS, f"{message_id}: sent again after the survivor sent it"
            assert message_id in kills[previous].claimed, (
                f"{message_id}: sent again although not in flight at kill {previous + 1}"
            )
            kills[previous].duplicates += 1

    for number, kill in enumerate(kills, 1):
        print(
            f"kill {number} at +{kill.signalled_at - started:.1f} s, after {kill.fraction:.0%} of "
            f"the rest: {kill.arrived} of {total} arrived, {kill.pending} pending, "
            f"{len(kill.claimed)} claimed; {kill.duplicates} sent again, {kill.cut} cut short"
        )
    print(
        f"published in {published - started:.1f} s; all arrived at +{all_arrived - started:.1f} s, "
        f"settled at +{settled - started:.1f} s"
    )
    for number, kill in enumerate(kills, 1):
        assert kill.duplicates <= MAX_IN_FLIGHT, (
            f"kill {number}: {kill.duplicates} duplicates for {MAX_IN_FLIGHT} in flight"
        )
    assert len(got) - total == sum(k.duplicates for k in kills)


# -- b. two workers at once on PostgreSQL: each delivery exactly once ------------------------

RACE_PER_ENDPOINT = 400
RACE_ENDPOINTS = 5


def _sockets_of(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    return inodes


def _connected_to(port: int) -> set[str]:
    """Inodes of established IPv4 TCP sockets whose remote end is 127.0.0.1:`port`."""
    remote = f"0100007F:{port:04X}"
    inodes = set()
    with contextlib.suppress(OSError), open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if fields[2] == remote and fields[3] == "01":
                inodes.add(fields[9])
    return inodes


def test_two_workers_on_postgresql_deliver_each_delivery_exactly_once(
    deploy: DeployFactory, receiver: Receiver, backend: Backend
) -> None:
    if not backend.is_postgres:
        pytest.skip("several workers side by side is a PostgreSQL feature (SKIP LOCKED)")
    deployment = deploy(FAST, worker_env={})
    api = deployment.account()
    paths = subscribe_burst_endpoints(api, receiver, RACE_ENDPOINTS)
    for path in paths:
        receiver.respond(path, *[200] * RACE_PER_ENDPOINT, delay=0.002)
    workers = [deployment.start_worker(), deployment.start_worker()]
    total = RACE_PER_ENDPOINT * RACE_ENDPOINTS
    started = time.monotonic()
    publish_events(
        deployment.database_url,
        api.account_id,
        dict.fromkeys(BURST_EVENTS[:RACE_ENDPOINTS], RACE_PER_ENDPOINT),
    )
    published = time.monotonic()
    expected = {message_id for message_id, _, _ in delivery_rows(deployment.database_url)}
    assert len(expected) == total

    senders: set[int] = set()
    sampled = [0.0]

    def arrived() -> bool:
        # Which worker has connections open to the receiver (both must take part); sampled
        # twice a second, as reading /proc here takes CPU from the receiver's threads.
        if time.monotonic() - sampled[0] >= 0.5:
            sampled[0] = time.monotonic()
            to_receiver = _connected_to(receiver.port)
            senders.update(w.pid for w in workers if _sockets_of(w.pid) & to_receiver)
        return len(receiver.requests()) >= total

    wait_until(
        arrived,
        45,
        lambda: f"{len(receiver.requests())} of {total} arrived\n{deployment.logs()}",
        step=0.05,
    )
    print(
        f"published {total} in {published - started:.1f} s, "
        f"all arrived {time.monotonic() - published:.1f} s later"
    )
    time.sleep(1.0)  # a duplicate sent late would land now
    assert all(w.running for w in workers), deployment.logs()
    got = webhook_ids(receiver.requests())
    twice = sorted(w for w, n in Counter(got).items() if n > 1)
    assert twice == [], f"{len(twice)} deliveries sent twice by two live workers: {twice[:5]}"
    assert set(got) == expected
    assert senders == {w.pid for w in workers}, f"only {senders} of both workers sent anything"
    wait_until(
        lambda: {s for _, s, _ in delivery_rows(deployment.database_url)} == {"succeeded"},
        15,
        lambda: f"statuses: {sorted({s for _, s, _ in delivery_rows(deployment.database_url)})}",
        step=0.2,
    )


# -- i. a live worker never re-sends what it still has in flight -----------------------------


def test_a_live_worker_does_not_resend_a_delivery_still_in_flight(
    deploy: DeployFactory, receiver: Receiver
) -> None:
    # The crash-drill lease (3 s) with the default 15 s timeout, and a receiver taking 5 s.
    deployment = deploy(FAST, worker_env={"VOXSIG_WEBHOOK_LEASE_SECONDS": str(LEASE_SECONDS)})
    api = deployment.account()
    webhook = subscribe(api, receiver, "/slow", ["message_created"])
    receiver.respond("/slow", Reply(200, delay=5.0))
    deployment.start_worker()
    setup = new_conversation(api)
    post_message(api, setup.conversation_id, "take your time")

    first = receiver.wait_for(1, "/slow", timeout=20)[0]
    delivery = only_delivery(api, webhook["id"])
    wait_until(
        lambda: delivery_detail(api, webhook["id"], delivery["id"])["status"] == "succeeded",
        20,
        deployment.logs,
        step=0.1,
    )
    time.sleep(max(0.0, first.at + 6.5 - time.monotonic()))  # the slow answer is recorded too
    got = receiver.requests("/slow")
    arrivals = [f"+{r.at - first.at:.2f}s" for r in got]
    detail = delivery_detail(api, webhook["id"], delivery["id"])
    assert len(got) == 1, f"one worker, alive throughout, sent it {len(got)} times: {arrivals}"
    assert len(detail["attempts"]) == 1, detail["attempts"]
