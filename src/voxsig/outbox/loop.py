"""The worker loop. Claims only as many deliveries as it has room to send, sends each as its
own task (a slow receiver holds only its own requests), and records outcomes in batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

from voxsig import metrics
from voxsig.db import Database
from voxsig.outbox import heartbeat
from voxsig.outbox.claims import Job, Lease, claim_due, renew_leases
from voxsig.outbox.outcomes import GaveUp, record_batch
from voxsig.outbox.policy import Policy
from voxsig.outbox.signing import signed_headers
from voxsig.outbox.transport import Outcome, Transport

log = logging.getLogger("voxsig.worker")
CLAIM_BATCH = 100
RECORD_BATCH = 200


class Worker:
    def __init__(
        self,
        db: Database,
        transport: Transport,
        policy: Policy,
        *,
        max_in_flight: int = 256,
        max_per_endpoint: int = 16,
        poll_seconds: float = 1.0,
        worker_id: str | None = None,
        gave_up: GaveUp | None = None,
    ) -> None:
        self.db = db
        self.gave_up = gave_up
        self.id = worker_id or heartbeat.new_worker_id()
        self.lease = Lease(self.id, policy.lease_seconds, policy.takeover_seconds)
        self.transport = transport
        self.policy = policy
        self.max_in_flight = max_in_flight
        # A hanging endpoint can hold at most this many of the worker's slots.
        self.max_per_endpoint = max_per_endpoint
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._in_flight: dict[int, int] = {}  # delivery id -> endpoint id
        self._per_endpoint: Counter[int] = Counter()
        self._caps: dict[int, int] = {}  # endpoint id -> its own cap, as of its latest claim
        self._idle = asyncio.Event()  # set while nothing is in flight
        self._idle.set()
        self._outcomes: asyncio.Queue[tuple[Job, Outcome]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    def wake(self) -> None:
        """Called after a commit that published events: claim now, not at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        # Beaten before the first claim, so no other worker takes this one's fresh leases.
        await self._beat()
        helpers = [
            asyncio.create_task(loop())
            for loop in (self._record_loop, self._renew_loop, self._heartbeat_loop)
        ]
        try:
            await self._claim_loop()
            await self.drain(grace=5.0)
        finally:
            for task in [*self._tasks, *helpers]:
                task.cancel()
            await asyncio.gather(*self._tasks, *helpers, return_exceptions=True)
            # What is still in flight is taken over at once by another worker (or this one's
            # successor), and marked interrupted.
            with contextlib.suppress(Exception):
                async with self.db.transaction() as session:
                    await heartbeat.forget(session, self.id)

    async def stop(self) -> None:
        self._stopping = True
        self.wake()

    async def _claim_loop(self) -> None:
        while not self._stopping:
            # Cleared before claiming, so a commit that lands during the claim is not missed.
            self._wake.clear()
            room = self.max_in_flight - len(self._in_flight)
            claimed = 0
            if room > 0:
                try:
                    claimed = await self._claim(min(room, CLAIM_BATCH))
                except Exception:  # the database may be restarting: keep going, try again
                    log.exception("claiming deliveries failed; retrying")
            if claimed and claimed == min(room, CLAIM_BATCH):
                continue  # more may be due right now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def _claim(self, limit: int) -> int:
        async with self.db.transaction() as session:
            jobs = await claim_due(
                session,
                limit,
                self.lease,
                self._per_endpoint,
                self.max_per_endpoint,
                in_flight=list(self._in_flight),
                caps=self._caps,
            )
        for job in jobs:
            self._caps[job.endpoint.id] = job.endpoint.max_in_flight or self.max_per_endpoint
            self._in_flight[job.delivery_id] = job.endpoint.id
            self._per_endpoint[job.endpoint.id] += 1
            self._idle.clear()
            task = asyncio.create_task(self._send(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(jobs)

    async def _renew_loop(self) -> None:
        """Every third of a lease, extends the leases of what is still in flight."""
        while True:
            await asyncio.sleep(self.policy.lease_seconds / 3)
            if not self._in_flight:
                continue
            try:
                async with self.db.transaction() as session:
                    await renew_leases(session, list(self._in_flight), self.lease)
            except Exception:  # a missed renewal risks a duplicate at worst, never a loss
                log.exception("renewing leases failed")

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(heartbeat.beat_every(self.lease.takeover_seconds))
            await self._beat()

    async def _beat(self) -> None:
        try:
            async with self.db.transaction() as session:
                await heartbeat.beat(session, self.id)
        except Exception:  # a missed beat risks a duplicate at worst, never a loss
            log.exception("the worker's heartbeat failed")

    async def _send(self, job: Job) -> None:
        headers = signed_headers(job.endpoint.secrets, job.message_id, job.body)
        timeout = self.policy.timeout_of(job.endpoint.kind)
        outcome = await self.transport.post(job.endpoint.url, job.body.encode(), headers, timeout)
        await self._outcomes.put((job, outcome))

    async def _record_loop(self) -> None:
        while True:
            batch = [await self._outcomes.get()]
            while not self._outcomes.empty() and len(batch) < RECORD_BATCH:
                batch.append(self._outcomes.get_nowait())
            await self._record(batch)

    async def _record(self, batch: list[tuple[Job, Outcome]]) -> None:
        """One transaction for the batch. If it fails, each outcome is tried on its own, so
        one bad row cannot hold the others back; while the database is down, it waits."""
        pending = batch
        while pending and not await self._record_together(pending):
            pending = [item for item in pending if not await self._record_together([item])]
            if pending:
                await asyncio.sleep(1)
        for job, outcome in batch:
            label = "succeeded" if outcome.succeeded else outcome.error_class or "failed"
            metrics.observe(label, job.endpoint.kind, outcome.duration_ms / 1000)
            self._in_flight.pop(job.delivery_id, None)
            self._per_endpoint[job.endpoint.id] -= 1
            if self._per_endpoint[job.endpoint.id] <= 0:
                del self._per_endpoint[job.endpoint.id]
                self._caps.pop(job.endpoint.id, None)  # learnt again at its next claim
        if not self._in_flight:
            self._idle.set()
        self.wake()

    async def _record_together(self, batch: list[tuple[Job, Outcome]]) -> bool:
        try:
            async with self.db.transaction() as session:
                await record_batch(session, batch, self.policy, self.gave_up)
        except Exception:  # the lease keeps the delivery safe: it is sent again if lost here
            log.exception("recording %d attempt(s) failed", len(batch))
            return False
        return True

    async def drain(self, grace: float) -> None:
        """Waits up to `grace` seconds for the sends in flight to be recorded (shutdown)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)
