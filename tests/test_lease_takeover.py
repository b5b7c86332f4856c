"""A dead worker's leases are not waited out (issue 13, points 2 and 3): a restarted SQLite
server takes its predecessor's claims at start; on PostgreSQL, a worker whose heartbeat stopped
has its claims taken over within seconds. Either way, the delivery log shows the interrupted
send, so an operator sees the receiver may have it twice. SIGKILL drills on subprocesses."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Select, select

from tests.conftest import Backend
from tests.support.client import ApiClient, ok
from tests.support.deliveries import delivery_detail, webhook_ids
from tests.support.deployment import FAST, DeployFactory
from tests.support.factories import new_conversation, post_message, subscribe
from tests.support.receiver import Received, Receiver, Reply
from tests.support.waiting import wait_until
from voxsig.db import Database
from voxsig.models import Delivery, Worker
from voxsig.models.webhook import PENDING

LEASE = 60  # long, as in production: waiting it out would be seen
HELD = 3  # deliveries in flight (to a slow receiver) at the kill
TAKEOVER = 2  # VOXSIG_WORKER_TAKEOVER_SECONDS of the PostgreSQL drill


def query(database_url: str, statement: Select[Any]) -> list[Any]:
    async def run() -> list[Any]:
        db = Database(database_url)
        try:
            async with db.sessions() as session:
                return list(await session.execute(statement))
        finally:
            await db.dispose()

    return asyncio.run(run())


def lease_ends(database_url: str) -> dict[str, datetime]:
    """The `locked_until` of every leased, unsettled delivery, by message id."""
    leased = select(Delivery.message_id, Delivery.locked_until).where(
        Delivery.status == PENDING, Delivery.locked_until.is_not(None)
    )
    return {m: until for m, until in query(database_url, leased)}


def workers_on_record(database_url: str) -> int:
    return len(query(database_url, select(Worker.id)))


def hold_slow_deliveries(api: ApiClient, receiver: Receiver) -> tuple[int, list[Received]]:
    """HELD deliveries in flight to a receiver that takes 10 s over each (its re-sends are
    answered at once), each of a conversation of its own."""
    webhook = subscribe(api, receiver, "/slow", ["message_created"])
    receiver.respond("/slow", *[Reply(200, delay=10.0)] * HELD)
    for number in range(HELD):
        post_message(api, new_conversation(api).conversation_id, f"held {number}")
    return webhook["id"], receiver.wait_for(HELD, "/slow", timeout=20)


def resent_before_their_leases_ran_out(
    receiver: Receiver, held: list[Received], leases: dict[str, datetime], logs: str
) -> list[Received]:
    """Waits (a lease and more: a failure shows when they did come) for the re-sends, and
    checks each came before its dead lease would have run out."""
    got = receiver.wait_for(2 * HELD, "/slow", timeout=LEASE + 20)
    resent = got[HELD:]
    assert sorted(webhook_ids(resent)) == sorted(webhook_ids(held)), "re-sent something else"
    to_wall = time.time() - time.monotonic()
    for request in resent:
        arrived = datetime.fromtimestamp(request.at + to_wall, UTC).replace(tzinfo=None)
        until = leases[request.headers["webhook-id"]].replace(tzinfo=None)
        assert arrived < until, f"re-sent at {arrived}, after its lease ran out at {until}\n{logs}"
    return resent


def assert_interrupted_on_record(api: ApiClient, webhook_id: int) -> None:
    """Each held delivery: succeeded, its log an interrupted attempt, then the re-send's."""

    def listed() -> list[dict[str, Any]]:
        return list(ok(api.get(f"webhooks/{webhook_id}/deliveries"))["payload"])

    wait_until(lambda: {d["status"] for d in listed()} == {"succeeded"}, 15, listed, step=0.2)
    deliveries = listed()
    assert len(deliveries) == HELD
    for delivery in deliveries:
        detail = delivery_detail(api, webhook_id, delivery["id"])
        # Newest first, as the log lists them.
        classes = [a["error_class"] for a in detail["attempts"]]
        assert sorted(classes, key=str) == sorted(["interrupted", None], key=str), detail
        (cut,) = [a for a in detail["attempts"] if a["error_class"] == "interrupted"]
        assert "may have got it" in cut["error_message"]
        assert cut["response_status"] is None
        assert detail["attempt_count"] == 1  # the interrupted send is not a retry


def test_a_restarted_sqlite_server_resends_its_dead_leases_without_waiting_them_out(
    deploy: DeployFactory, receiver: Receiver, backend: Backend
) -> None:
    if backend.is_postgres:
        pytest.skip("on SQLite the restarted server holds voxsig.lock: no one else holds leases")
    deployment = deploy({**FAST, "VOXSIG_WEBHOOK_LEASE_SECONDS": str(LEASE)})
    api = deployment.account()
    webhook_id, held = hold_slow_deliveries(api, receiver)

    deployment.server.kill()
    killed_at = time.monotonic()
    leases = lease_ends(deployment.database_url)
    assert set(leases) == set(webhook_ids(held)), f"leased at the kill: {leases}"
    restarted_at = time.monotonic()
    deployment.server.start()
    resent = resent_before_their_leases_ran_out(receiver, held, leases, deployment.logs())
    first = min(r.at for r in resent)
    print(
        f"\nrestart to first re-send: {first - restarted_at:.2f} s (kill to first re-send "
        f"{first - killed_at:.2f} s; lease {LEASE} s)"
    )
    assert_interrupted_on_record(api, webhook_id)


def test_a_postgresql_worker_whose_heartbeat_stopped_has_its_leases_taken_over(
    deploy: DeployFactory, receiver: Receiver, backend: Backend
) -> None:
    if not backend.is_postgres:
        pytest.skip("several workers side by side is a PostgreSQL feature")
    settings = {"VOXSIG_WEBHOOK_LEASE_SECONDS": str(LEASE)}
    settings["VOXSIG_WORKER_TAKEOVER_SECONDS"] = str(TAKEOVER)
    deployment = deploy(FAST, worker_env=settings)
    api = deployment.account()
    doomed = deployment.start_worker()
    webhook_id, held = hold_slow_deliveries(api, receiver)
    survivor = deployment.start_worker()
    # The survivor is up (its heartbeat beaten) before the kill.
    url = deployment.database_url
    wait_until(lambda: workers_on_record(url) == 2, 15, deployment.logs, step=0.2)

    doomed.kill()
    killed_at = time.monotonic()
    leases = lease_ends(deployment.database_url)
    assert set(leases) == set(webhook_ids(held)), f"leased at the kill: {leases}"
    resent = resent_before_their_leases_ran_out(receiver, held, leases, deployment.logs())
    first = min(r.at for r in resent)
    print(f"\nkill to first re-send: {first - killed_at:.2f} s (takeover {TAKEOVER} s)")
    # Within the takeover window, a beat and a poll: nowhere near the lease.
    assert first - killed_at < TAKEOVER + 5, deployment.logs()
    assert survivor.running, deployment.logs()
    assert_interrupted_on_record(api, webhook_id)
