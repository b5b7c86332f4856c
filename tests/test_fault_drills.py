"""Fault drills over the wire: the API server SIGKILLed between commit and response, PostgreSQL
restarted mid-burst, and a second Voxsig on one SQLite data directory. The worker SIGKILLed
mid-burst is in test_delivery_faults.py, a receiver down for several retries in
test_retry_drills.py. Each drill is bounded in time and uses 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from harness.processes import ServerFailed
from harness.server import VoxsigServer, run_cli
from tests.conftest import Backend
from tests.support.client import ApiClient, create_account, unique_email
from tests.support.deliveries import delivery_rows, publish_events, webhook_ids
from tests.support.deployment import FAST, LEASE_SECONDS, DeployFactory, Deployment
from tests.support.factories import new_conversation, post_message, subscribe
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until


def message_ids_with_prefix(database_url: str, prefix: str) -> set[int]:
    """Ids of the messages whose content starts with `prefix`: what was committed."""
    from sqlalchemy import select

    from voxsig.db import Database
    from voxsig.models import Message

    async def run() -> set[int]:
        db = Database(database_url)
        try:
            async with db.sessions() as session:
                rows = await session.scalars(
                    select(Message.id).where(Message.content.startswith(prefix))
                )
                return set(rows)
        finally:
            await db.dispose()

    return asyncio.run(run())


def created_message_ids(receiver: Receiver, path: str) -> set[int]:
    return {
        r.json()["id"]
        for r in receiver.requests(path)
        if len(r.body) == int(r.headers.get("content-length", len(r.body)))
        and r.json().get("event") == "message_created"
    }


# -- 1. the API server SIGKILLed between commit and response --------------------------------


def kill_when_committed_ahead(deployment: Deployment, prefix: str, answered: list[int]) -> int:
    """SIGKILLs the server as soon as more messages are committed than were answered (polling
    on one connection, so each look takes well under a millisecond); after 20 s without such a
    moment, kills it anyway. Returns how many were committed but unanswered when it looked."""
    from sqlalchemy import func, select

    from voxsig.db import Database
    from voxsig.models import Message

    async def run() -> int:
        db = Database(deployment.database_url)
        deadline = time.monotonic() + 20
        try:
            async with db.engine.connect() as connection:
                while time.monotonic() < deadline:
                    seen = len(answered)
                    count = await connection.scalar(
                        select(func.count(Message.id)).where(Message.content.startswith(prefix))
                    )
                    await connection.rollback()  # a fresh snapshot next time
                    if seen >= 3 and (count or 0) > seen:
                        deployment.server.kill()
                        return (count or 0) - seen
            deployment.server.kill()
            return 0
        finally:
            await db.dispose()

    return asyncio.run(run())


CONCURRENT_POSTS = 50


def test_messages_committed_before_the_api_was_killed_are_all_delivered(
    deploy: DeployFactory, receiver: Receiver
) -> None:
    # The killed server's in-process worker leaves what it had claimed leased: a short lease
    # (as in the worker-kill drill) so the restarted one re-claims it within the test.
    deployment = deploy({**FAST, "VOXSIG_WEBHOOK_LEASE_SECONDS": str(LEASE_SECONDS)})
    api = deployment.account()
    subscribe(api, receiver, "/killed-api", ["message_created"])
    conversation = new_conversation(api).conversation_id
    prefix = f"drill-{time.monotonic_ns()}-"
    answered: list[int] = []
    lost: list[str] = []
    lock = threading.Lock()
    go = threading.Event()

    def post(number: int) -> None:
        go.wait()
        try:
            with httpx.Client(
                base_url=api.url, headers={"api_access_token": api.token}, timeout=10
            ) as http:
                response = http.post(
                    api.path(f"conversations/{conversation}/messages"),
                    json={"content": f"{prefix}{number}"},
                )
            with lock:
                if response.status_code == 200:
                    answered.append(number)
                else:
                    lost.append(str(response.status_code))
        except httpx.HTTPError as exc:
            with lock:
                lost.append(type(exc).__name__)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(CONCURRENT_POSTS)]
    for thread in threads:
        thread.start()
    go.set()
    # Kill when a message is committed whose response has not arrived yet: the window the
    # drill is about (a response may still slip through before the signal lands).
    window = kill_when_committed_ahead(deployment, prefix, answered)
    assert window >= 1, "never caught a commit ahead of its response in 20 s"
    for thread in threads:
        thread.join(15)
    assert len(answered) < CONCURRENT_POSTS, "the kill came after every response: nothing cut"

    deployment.server.start()
    committed = message_ids_with_prefix(deployment.database_url, prefix)
    assert len(committed) >= len(answered), (committed, answered)
    wait_until(
        lambda: committed <= created_message_ids(receiver, "/killed-api"),
        40,
        lambda: (
            f"{len(committed - created_message_ids(receiver, '/killed-api'))} of "
            f"{len(committed)} committed messages never delivered\n{deployment.logs()}"
        ),
        step=0.1,
    )
    print(
        f"killed with {window} committed and unanswered; "
        f"{len(answered)} answered, {len(lost)} lost ({sorted(set(lost))}), "
        f"{len(committed)} committed, all delivered"
    )
    # And the restarted server takes new messages as usual.
    api.drop_connections()
    post_message(api, conversation, f"{prefix}after")


# -- 2. PostgreSQL restarted mid-burst ---------------------------------------------------------

PG_BURST = 500


def test_postgres_restarted_mid_burst_loses_nothing_and_the_api_recovers(
    deploy: DeployFactory, receiver: Receiver, backend: Backend
) -> None:
    if not backend.is_postgres:
        pytest.skip("a drill for PostgreSQL: SQLite has no server to restart")
    assert backend.cluster is not None
    deployment = deploy(FAST)
    api = deployment.account()
    subscribe(api, receiver, "/pg-burst", ["message_created"])
    receiver.respond("/pg-burst", *[200] * PG_BURST, delay=0.005)  # so the restart lands mid-way
    publish_events(deployment.database_url, api.account_id, {"message_created": PG_BURST})
    expected = {message_id for message_id, _, _ in delivery_rows(deployment.database_url)}
    assert len(expected) == PG_BURST
    wait_until(
        lambda: len(receiver.requests("/pg-burst")) >= PG_BURST // 10,
        30,
        lambda: f"{len(receiver.requests('/pg-burst'))} arrived\n{deployment.logs()}",
        step=0.01,
    )
    backend.cluster.restart()
    at_restart = len(receiver.requests("/pg-burst"))

    def health() -> bool:
        try:
            return httpx.get(f"{deployment.server.url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(health, 30, lambda: f"/health never 200 again\n{deployment.logs()}", step=0.2)
    wait_until(
        lambda: expected <= set(webhook_ids(receiver.requests("/pg-burst"))),
        45,
        lambda: (
            f"{len(expected - set(webhook_ids(receiver.requests('/pg-burst'))))} of {PG_BURST} "
            f"never arrived (restarted after {at_restart})\n{deployment.logs()}"
        ),
        step=0.1,
    )
    assert set(webhook_ids(receiver.requests("/pg-burst"))) == expected
    assert deployment.server.running, deployment.logs()
    api.drop_connections()
    profile = api.get("/api/v1/profile")
    assert profile.status_code == 200, profile.text
    print(f"restarted after {at_restart} of {PG_BURST}; all arrived")


# -- 3. SQLite: a second Voxsig on the same data directory ------------------------------------


def sqlite_integrity(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        row = connection.execute("PRAGMA integrity_check").fetchone()
    return str(row[0])


def test_a_second_voxsig_with_a_worker_on_one_sqlite_database_is_refused(
    backend: Backend, receiver: Receiver, tmp_path: Path
) -> None:
    if backend.is_postgres:
        pytest.skip("several processes on PostgreSQL are supported (row locks coordinate them)")
    database = tmp_path / "shared" / "voxsig.db"
    url = f"sqlite+aiosqlite:///{database}"
    first = VoxsigServer(url, tmp_path / "shared", FAST)
    second = VoxsigServer(url, tmp_path / "shared", FAST)  # same data dir, another port
    first.start()
    try:
        credentials = create_account(url, "Shared", unique_email())
        api = ApiClient(first.url, credentials)
        subscribe(api, receiver, "/shared", ["message_created"])
        conversation = new_conversation(api).conversation_id

        with pytest.raises(ServerFailed) as refused:
            second.start(timeout=30)
        assert second.returncode == 1
        message = str(refused.value)
        assert "another Voxsig process is using" in message, message
        assert str(database.parent) in message, message
        assert "PostgreSQL" in message, message

        worker = run_cli(first.env, "worker", cwd=tmp_path / "shared", timeout=30)
        assert worker.returncode == 1, worker.stdout + worker.stderr
        assert "another Voxsig process is using" in worker.stderr, worker.stderr

        # The first one never noticed: it serves and delivers, once each.
        post_message(api, conversation, "still here")
        got = receiver.wait_for(1, "/shared", timeout=15)
        time.sleep(1.0)
        assert [r.json()["content"] for r in receiver.requests("/shared")] == ["still here"]
        assert len(got) == 1
        api.close()
    finally:
        second.stop()
        first.stop()
    assert sqlite_integrity(database) == "ok"
    # Once the first has stopped, the lock is free: the next one starts.
    second.start()
    second.stop()
