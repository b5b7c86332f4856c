"""Delivery under faults, over the wire: a worker SIGKILLed three times during a burst of 5,000
events, two workers racing on PostgreSQL, retries, Retry-After, 410 Gone, failure and
redelivery, secret rotation, and the SSRF guard at send time. Every Voxsig here is a real
subprocess on a database of its own, and every webhook lands on a real HTTP receiver on
127.0.0.1.

The helpers at the top (Deployment, deployments, publish_events, ...) are shared with
test_delivery_isolation.py.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import random
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from tests.conftest import Backend
from tests.support.client import ApiClient, create_account, unique_email
from tests.support.receiver import Received, Receiver, Reply
from tests.support.server import VoxsigServer, voxsig_command
from tests.test_webhook_events import new_conversation, subscribe

JSON = dict[str, Any]
# Six event names exist; endpoints of a burst each subscribe to a different one, so a burst of
# N events per name makes exactly N deliveries per endpoint.
BURST_EVENTS = (
    "message_created",
    "message_updated",
    "conversation_created",
    "conversation_updated",
    "conversation_status_changed",
)
FAST = {"VOXSIG_WORKER_POLL_SECONDS": "0.2"}


# -- helpers: processes ----------------------------------------------------------------------


class WorkerProcess:
    """`voxsig worker` as a subprocess, its output in a log file of its own."""

    def __init__(self, env: Mapping[str, str], log_path: Path, cwd: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [*voxsig_command(), "worker"],
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, whatever was in flight stays leased."""
        if self.running:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(15)

    def stop(self) -> None:
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)
        self._log.close()

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:]) or "(empty)"
        return "(no log)"


class Deployment:
    """A Voxsig on a fresh database of its own: `voxsig serve` (with its in-process worker, or
    API-only when `worker_env` is given) plus any `voxsig worker` processes a test starts."""

    def __init__(
        self,
        backend: Backend,
        work_dir: Path,
        server_env: Mapping[str, str],
        worker_env: Mapping[str, str] | None,
    ) -> None:
        self.backend = backend
        self.work_dir = work_dir
        self.pg_database: str | None = None
        if backend.is_postgres:
            assert backend.cluster is not None
            self.pg_database = f"delivery_{uuid.uuid4().hex[:10]}"
            self.database_url = backend.cluster.create_database(self.pg_database)
        else:
            work_dir.mkdir(parents=True, exist_ok=True)
            self.database_url = f"sqlite+aiosqlite:///{work_dir / 'voxsig.db'}"
        self.api_only = worker_env is not None
        env = dict(server_env)
        if self.api_only:
            env["VOXSIG_RUN_WORKER"] = "false"
        self.server = VoxsigServer(self.database_url, work_dir / "api", env)
        self.worker_env = dict(worker_env or {})
        self.workers: list[WorkerProcess] = []
        self.clients: list[ApiClient] = []

    def start(self) -> Deployment:
        self.server.start()
        return self

    def account(self) -> ApiClient:
        credentials = create_account(self.database_url, "Deliveries", unique_email())
        client = ApiClient(self.server.url, credentials)
        self.clients.append(client)
        return client

    def start_worker(self, **env: str) -> WorkerProcess:
        assert self.api_only, "this deployment's server runs the worker itself"
        full_env = {**self.server.env, **self.worker_env, **env}
        full_env.pop("VOXSIG_RUN_WORKER", None)
        log = self.work_dir / f"worker-{len(self.workers) + 1}.log"
        worker = WorkerProcess(full_env, log, self.work_dir)
        self.workers.append(worker)
        return worker

    def logs(self) -> str:
        parts = [f"--- server log (tail) ---\n{self.server.log_tail(30)}"]
        for number, worker in enumerate(self.workers, 1):
            parts.append(f"--- worker {number} (pid {worker.pid}) log ---\n{worker.log_tail()}")
        return "\n".join(parts)

    def close(self) -> None:
        for client in self.clients:
            client.close()
        for worker in self.workers:
            worker.stop()
        self.server.stop()
        if self.pg_database is not None and self.backend.cluster is not None:
            with contextlib.suppress(Exception):
                self.backend.cluster.drop_database(self.pg_database)


DeployFactory = Callable[..., Deployment]


def deployments(backend: Backend, tmp_path: Path) -> Iterator[DeployFactory]:
    """The body of the `deploy` fixture (test_delivery_isolation.py has one too)."""
    made: list[Deployment] = []

    def make(
        server_env: Mapping[str, str] | None = None,
        worker_env: Mapping[str, str] | None = None,
    ) -> Deployment:
        work_dir = tmp_path / f"deployment-{len(made) + 1}"
        deployment = Deployment(backend, work_dir, server_env or {}, worker_env)
        made.append(deployment)
        return deployment.start()

    try:
        yield make
    finally:
        for deployment in made:
            deployment.close()


@pytest.fixture
def deploy(backend: Backend, tmp_path: Path) -> Iterator[DeployFactory]:
    """Factory: deploy(server_env, worker_env=None) starts a Voxsig on a fresh database.
    With `worker_env`, the server is API-only and the test starts `voxsig worker`s itself."""
    yield from deployments(backend, tmp_path)


# -- helpers: database and waiting ---------------------------------------------------------


def publish_events(
    database_url: str, account_id: int, per_name: Mapping[str, int], tag: str = ""
) -> None:
    """Publishes events through Voxsig's real outbox function, all in one transaction: each
    body carries its name, a sequence number and `tag`, so every event body is unique."""
    from voxsig.db import Database
    from voxsig.events.publish import publish

    async def run() -> None:
        db = Database(database_url)
        try:
            async with db.transaction() as session:
                for name, count in per_name.items():
                    for seq in range(count):
                        payload = {"event": name, "seq": seq, "tag": tag}
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


def wait_until(
    check: Callable[[], bool], timeout: float, describe: Callable[[], str], step: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {describe()}")
        time.sleep(step)


def ok(response: httpx.Response) -> Any:
    request = response.request
    assert response.status_code == 200, (
        f"{request.method} {request.url} -> {response.status_code}: {response.text[:800]}"
    )
    return response.json()


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


def post_message(api: ApiClient, conversation_id: int, content: str) -> JSON:
    made: JSON = ok(
        api.post(f"conversations/{conversation_id}/messages", json={"content": content})
    )
    return made


# -- a. a worker SIGKILLed three times mid-burst loses nothing ------------------------------

BURST_PER_ENDPOINT = 1000
BURST_ENDPOINTS = 5
MAX_IN_FLIGHT = 64
LEASE_SECONDS = 3
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


# -- c. retried until it succeeds, same webhook-id, every attempt signed ---------------------


def test_500_500_200_is_delivered_on_the_third_attempt_signed_each_time(
    deploy: DeployFactory, receiver: Receiver
) -> None:
    deployment = deploy({**FAST, "VOXSIG_WEBHOOK_RETRY_SCHEDULE": "1,1,1"})
    api = deployment.account()
    webhook = subscribe(api, receiver, "/flaky", ["message_created"])
    receiver.respond("/flaky", 500, 500)
    setup = new_conversation(api)
    post_message(api, setup.conversation_id, "third time lucky")

    got = receiver.wait_for(3, "/flaky", timeout=20)
    delivery = only_delivery(api, webhook["id"])
    detail = wait_for_settled(api, webhook["id"], delivery["id"], "succeeded", 3, timeout=10)
    assert [a["response_status"] for a in detail["attempts"]] == [500, 500, 200]
    assert [a["error_class"] for a in detail["attempts"]] == ["http_status", "http_status", None]
    assert detail["attempt_count"] == 3
    assert [r.status for r in got] == [500, 500, 200]
    assert {r.headers["webhook-id"] for r in got} == {detail["message_id"]}
    assert {r.body for r in got} == {detail["request_body"].encode()}
    verifier = Verifier(webhook["secret"])
    for request in got:
        assert verifier.verify(request.body, request.headers)["content"] == "third time lucky"
    time.sleep(1.5)  # no fourth attempt after the success
    assert len(receiver.requests("/flaky")) == 3


# -- d. Retry-After is honoured ---------------------------------------------------------------


def test_429_retry_after_is_honoured_within_the_schedule(
    deploy: DeployFactory, receiver: Receiver
) -> None:
    deployment = deploy({**FAST, "VOXSIG_WEBHOOK_RETRY_SCHEDULE": "1,5,5"})
    api = deployment.account()
    webhook = subscribe(api, receiver, "/busy", ["message_created"])
    receiver.respond("/busy", Reply(429, headers={"Retry-After": "3"}))
    setup = new_conversation(api)
    post_message(api, setup.conversation_id, "slow down")

    first, second = receiver.wait_for(2, "/busy", timeout=20)
    gap = second.at - first.at
    # The schedule alone would retry after 1 s (+-20 %); the receiver asked for 3 s.
    assert 2.9 <= gap <= 4.5, f"retried {gap:.2f} s after a 429 with Retry-After: 3"
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    delivery = only_delivery(api, webhook["id"])
    detail = wait_for_settled(api, webhook["id"], delivery["id"], "succeeded", 2, timeout=10)
    assert [a["response_status"] for a in detail["attempts"]] == [429, 200]
    headers = {k.lower(): v for k, v in detail["attempts"][0]["response_headers"].items()}
    assert headers["retry-after"] == "3"


# -- e. 410 Gone disables at once; re-enable and recover what was missed ---------------------


def test_410_disables_the_endpoint_and_recover_sends_what_it_missed(
    deploy: DeployFactory, receiver: Receiver
) -> None:
    deployment = deploy({**FAST, "VOXSIG_WEBHOOK_RETRY_SCHEDULE": "1,1,1"})
    api = deployment.account()
    webhook = subscribe(api, receiver, "/gone", ["message_created"])
    path = f"webhooks/{webhook['id']}"
    receiver.respond("/gone", 410)
    setup = new_conversation(api)
    post_message(api, setup.conversation_id, "before")
    receiver.wait_for(1, "/gone", timeout=15)

    state: JSON = {}

    def disabled() -> bool:
        nonlocal state
        state = ok(api.get(path))["payload"]["webhook"]
        return state["enabled"] is False

    wait_until(disabled, 10, lambda: f"webhook is {state}", step=0.1)
    assert "410" in (state["disabled_reason"] or ""), state
    assert state["disabled_at"]

    post_message(api, setup.conversation_id, "while disabled")
    time.sleep(2.5)  # retry schedule 1 s, poll 0.2 s: anything sent would have arrived
    assert [r.json()["content"] for r in receiver.requests("/gone")] == ["before"]

    enabled = ok(api.patch(path, json={"enabled": True}))["payload"]["webhook"]
    assert enabled["enabled"] is True
    assert enabled["disabled_reason"] is None
    assert enabled.get("recover_since"), enabled
    recovered = ok(api.post(f"{path}/recover", json={"since": enabled["recover_since"]}))
    assert recovered["payload"] == {"redelivered": 0, "recovered": 1}
    again = ok(api.post(f"{path}/recover", json={"since": enabled["recover_since"]}))
    assert again["payload"] == {"redelivered": 0, "recovered": 0}, "recovered twice"

    def contents() -> list[str]:
        return [r.json()["content"] for r in receiver.requests("/gone")]

    wait_until(
        lambda: "while disabled" in contents(), 15, lambda: f"received {contents()}", step=0.1
    )
    # And the endpoint gets new events again.
    post_message(api, setup.conversation_id, "after")
    wait_until(lambda: "after" in contents(), 15, lambda: f"received {contents()}", step=0.1)
    assert contents().count("while disabled") == 1
    missed = [r for r in receiver.requests("/gone") if r.json()["content"] == "while disabled"]
    assert Verifier(webhook["secret"]).verify(missed[0].body, missed[0].headers)


# -- f. failed after the last retry; redelivered with the same id and bytes ------------------


def test_a_delivery_failed_after_the_last_retry_is_redelivered_identically(
    deploy: DeployFactory, receiver: Receiver
) -> None:
    deployment = deploy({**FAST, "VOXSIG_WEBHOOK_RETRY_SCHEDULE": "1,1,1"})
    api = deployment.account()
    webhook = subscribe(api, receiver, "/down", ["message_created"])
    receiver.respond("/down", 500, 500, 500, 500)
    setup = new_conversation(api)
    post_message(api, setup.conversation_id, "are you there?")

    failed_attempts = receiver.wait_for(4, "/down", timeout=20)
    delivery = only_delivery(api, webhook["id"])
    detail = wait_for_settled(api, webhook["id"], delivery["id"], "failed", 4, timeout=10)
    assert [a["response_status"] for a in detail["attempts"]] == [500] * 4
    assert detail["next_attempt_at"] is None
    assert only_delivery(api, webhook["id"], "failed")["id"] == delivery["id"]
    time.sleep(1.5)  # no fifth attempt on its own
    assert len(receiver.requests("/down")) == 4

    again = ok(api.post(f"webhooks/{webhook['id']}/deliveries/{delivery['id']}/redeliver"))
    assert again["payload"]["status"] == "pending"
    fifth = receiver.wait_for(5, "/down", timeout=15)[4]
    assert fifth.headers["webhook-id"] == failed_attempts[0].headers["webhook-id"]
    assert fifth.headers["webhook-id"] == delivery["message_id"]
    assert fifth.body == failed_attempts[0].body
    assert Verifier(webhook["secret"]).verify(fifth.body, fifth.headers)
    detail = wait_for_settled(api, webhook["id"], delivery["id"], "succeeded", 5, timeout=10)
    assert [a["response_status"] for a in detail["attempts"]] == [500, 500, 500, 500, 200]
    listed = ok(api.get(f"webhooks/{webhook['id']}/deliveries", params={"status": "failed"}))
    assert listed["meta"]["count"] == 0


# -- g. a rotated secret signs beside the old one --------------------------------------------


def test_after_rotate_secret_deliveries_verify_with_both_secrets(
    api: ApiClient, receiver: Receiver
) -> None:
    webhook = subscribe(api, receiver, "/rotate", ["message_created"])
    old_secret = webhook["secret"]
    setup = new_conversation(api)
    post_message(api, setup.conversation_id, "signed once")
    before = receiver.wait_for(1, "/rotate", timeout=15)[0]
    assert len(before.headers["webhook-signature"].split()) == 1
    assert Verifier(old_secret).verify(before.body, before.headers)

    rotated = ok(api.post(f"webhooks/{webhook['id']}/rotate_secret"))["payload"]["webhook"]
    new_secret = rotated["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != old_secret
    post_message(api, setup.conversation_id, "signed twice")
    after = receiver.wait_for(2, "/rotate", timeout=15)[1]
    assert after.json()["content"] == "signed twice"

    signatures = after.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2, after.headers["webhook-signature"]
    assert all(s.startswith("v1,") for s in signatures)
    assert Verifier(old_secret).verify(after.body, after.headers)
    assert Verifier(new_secret).verify(after.body, after.headers)
    moment = datetime.fromtimestamp(int(after.headers["webhook-timestamp"]), UTC)
    message_id, body = after.headers["webhook-id"], after.body.decode()
    assert set(signatures) == {
        Verifier(secret).sign(message_id, moment, body) for secret in (old_secret, new_secret)
    }


# -- h. SSRF guard at send time -------------------------------------------------------------


def test_a_worker_refuses_loopback_targets_it_is_not_allowed_to_reach(
    deploy: DeployFactory, receiver: Receiver
) -> None:
    # The API allows loopback (so the webhooks save); the worker allows nothing private.
    deployment = deploy(
        FAST,
        worker_env={
            "VOXSIG_WEBHOOK_ALLOWED_NETWORKS": "",
            "VOXSIG_WEBHOOK_RETRY_SCHEDULE": "30",
        },
    )
    api = deployment.account()
    by_ip = subscribe(api, receiver, "/ssrf-ip", ["message_created"])
    made = api.post(
        "webhooks",
        json={
            "url": f"http://localhost:{receiver.port}/ssrf-name",
            "subscriptions": ["message_created"],
        },
    )
    by_name = ok(made)["payload"]["webhook"]
    deployment.start_worker()
    setup = new_conversation(api)
    post_message(api, setup.conversation_id, "to loopback")

    for webhook in (by_ip, by_name):
        delivery = only_delivery(api, webhook["id"])
        detail = wait_for_attempts(api, webhook["id"], delivery["id"], 1, 20, deployment.logs)
        attempt = detail["attempts"][0]
        assert attempt["error_class"] == "ssrf_blocked", (webhook["url"], attempt)
        assert attempt["response_status"] is None
        assert detail["status"] == "pending"  # refused, to be retried per the schedule
    assert receiver.requests() == [], "a request reached loopback despite the worker's guard"


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


# -- j. deleting a webhook mid-send disturbs no other delivery -------------------------------


def test_deleting_a_webhook_mid_send_leaves_other_deliveries_alone(
    deploy: DeployFactory, receiver: Receiver
) -> None:
    deployment = deploy({**FAST, "VOXSIG_WEBHOOK_RETRY_SCHEDULE": "1,1,1"})
    api, other = deployment.account(), deployment.account()
    kept = subscribe(api, receiver, "/kept", ["message_created"])
    receiver.respond("/kept", Reply(200, delay=6.0, body=b"kept"), Reply(200, body=b"kept"))
    setup = new_conversation(api)
    post_message(api, setup.conversation_id, "first")  # in flight for 6 s
    receiver.wait_for(1, "/kept", timeout=15)

    doomed = subscribe(other, receiver, "/doomed", ["conversation_created"])
    receiver.respond("/doomed", Reply(200, delay=2.0, body=b"doomed"))
    new_conversation(other)
    receiver.wait_for(1, "/doomed", timeout=15)
    deleted = other.delete(f"webhooks/{doomed['id']}")  # while its delivery is in flight
    assert deleted.status_code == 200, deleted.text
    post_message(api, setup.conversation_id, "second")  # waits for "first" (same conversation)

    got = receiver.wait_for(2, "/kept", timeout=12)
    assert [r.json()["content"] for r in got] == ["first", "second"]
    listed = ok(api.get(f"webhooks/{kept['id']}/deliveries"))["payload"]
    assert len(listed) == 2
    for delivery in listed:
        detail = wait_for_settled(api, kept["id"], delivery["id"], "succeeded", 1, timeout=10)
        assert detail["attempts"][0]["response_body"] == "kept", detail["attempts"]


# -- recovery covers the failure streak that led to an automatic disable ----------------------


def test_recover_after_a_long_failure_streak_resends_what_failed_during_it(
    deploy: DeployFactory, receiver: Receiver
) -> None:
    deployment = deploy(
        {**FAST, "VOXSIG_WEBHOOK_RETRY_SCHEDULE": "1", "VOXSIG_WEBHOOK_DISABLE_AFTER": "3"}
    )
    api = deployment.account()
    webhook = subscribe(api, receiver, "/flaky", ["message_created"])
    path = f"webhooks/{webhook['id']}"
    receiver.respond("/flaky", *([503] * 50))
    setup = new_conversation(api)
    post_message(api, setup.conversation_id, "early failure")
    receiver.wait_for(2, "/flaky", timeout=15)  # first try and its one retry: failed for good
    time.sleep(3.5)  # the streak is now longer than DISABLE_AFTER
    post_message(api, setup.conversation_id, "the last straw")
    state: JSON = {}

    def disabled() -> bool:
        nonlocal state
        state = ok(api.get(path))["payload"]["webhook"]
        return state["enabled"] is False

    wait_until(disabled, 15, lambda: f"webhook is {state}", step=0.2)
    receiver.clear()
    enabled = ok(api.patch(path, json={"enabled": True}))["payload"]["webhook"]
    assert enabled["recover_since"] < state["disabled_at"].replace("+00:00", "Z"), enabled
    recovered = ok(api.post(f"{path}/recover", json={"since": enabled["recover_since"]}))
    assert recovered["payload"]["redelivered"] >= 1, recovered
    wait_until(
        lambda: "early failure" in [r.json()["content"] for r in receiver.requests("/flaky")],
        15,
        lambda: f"received {[r.json()['content'] for r in receiver.requests('/flaky')]}",
        step=0.2,
    )
