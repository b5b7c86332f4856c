"""Recording what an attempt came to, and what that means for the delivery and its endpoint."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.kit.clock import from_unix, utcnow
from voxsig.models import Delivery, DeliveryAttempt
from voxsig.models.webhook import FAILED, SUCCEEDED
from voxsig.outbox import claims, endpoints, replay
from voxsig.outbox.claims import Job
from voxsig.outbox.policy import Policy
from voxsig.outbox.transport import Outcome

log = logging.getLogger("voxsig.worker")
# The receiver says it is gone for good: its endpoint is disabled at once.
GONE = 410
# Told, in the recording transaction, of the deliveries that failed for good in a batch (each
# with its last error): the messages an inbox's callback never accepted are marked failed.
GaveUp = Callable[[AsyncSession, Sequence[tuple[int, str]]], Awaitable[None]]

# Run for every batch of outcomes: built once.
_SUCCEEDED = (
    update(Delivery)
    .where(
        Delivery.id.in_(bindparam("ids", expanding=True)),
        Delivery.message_id.in_(bindparam("message_ids", expanding=True)),
    )
    .values(
        status=SUCCEEDED,
        attempts=Delivery.attempts + 1,
        **claims.UNLEASED,
        updated_at=bindparam("now", type_=Delivery.updated_at.type),
    )
    .returning(Delivery.id)
)
_ATTEMPTS = insert(DeliveryAttempt)


async def record_batch(
    session: AsyncSession,
    batch: list[tuple[Job, Outcome]],
    policy: Policy,
    gave_up: GaveUp | None = None,
) -> None:
    """Settles a batch of outcomes in a few statements: successes in one UPDATE, attempts in one
    INSERT, endpoint health once per endpoint. A delivery deleted meanwhile (its webhook was
    deleted) is skipped: updates match on the delivery's unique message id too, so an attempt
    never lands on another row."""
    # One moment for the batch: a delivery failed by a 410 is settled no later than its
    # endpoint's `disabled_at`, so the `recover` offered on re-enabling includes it.
    now = utcnow()
    settled = await _settle_successes(session, [j for j, o in batch if o.succeeded], now)
    failed_for_good: list[tuple[int, str]] = []
    for job, outcome in batch:
        if outcome.succeeded:
            continue
        result = await _settle_failure(session, job, outcome, policy, now)
        if result is not None:
            settled.add(job.delivery_id)
        if result == FAILED:
            failed_for_good.append((job.delivery_id, _error_text(outcome)))
    recorded = [(j, o) for j, o in batch if j.delivery_id in settled]
    if not recorded:
        return
    # Core statements on the session's connection: no ORM objects, none of the ORM's overhead.
    connection = await session.connection()
    await connection.execute(
        _ATTEMPTS,
        [
            {
                "delivery_id": j.delivery_id,
                "started_at": from_unix(o.started_at),
                "duration_ms": o.duration_ms,
                "response_status": o.status,
                "response_headers": o.headers,
                "response_body": o.body,
                "error_class": o.error_class,
                "error_message": o.error_message,
            }
            for j, o in recorded
        ],
    )
    by_endpoint: dict[int, list[Outcome]] = {}
    for job, outcome in recorded:
        by_endpoint.setdefault(job.endpoint.id, []).append(outcome)
    healthy = [
        eid
        for eid, outcomes in by_endpoint.items()
        if any(o.succeeded for o in outcomes) and not any(o.status == GONE for o in outcomes)
    ]
    if healthy:
        # Any success ends an endpoint's failure streak: one statement for all of them.
        comebacks = await endpoints.healthy(connection, healthy, now)
        await _recover_automatically(session, comebacks)
    for endpoint_id, outcomes in by_endpoint.items():
        if endpoint_id not in healthy:
            await _endpoint_health(session, endpoint_id, outcomes, policy, now)
    if gave_up is not None and failed_for_good:
        await _tell(session, gave_up, failed_for_good)


def _error_text(outcome: Outcome) -> str:
    return outcome.error_message or outcome.error_class or "unknown error"


async def _tell(session: AsyncSession, gave_up: GaveUp, failed: list[tuple[int, str]]) -> None:
    """In a savepoint: whatever the listener does wrong, the outcomes are still recorded."""
    try:
        async with session.begin_nested():
            await gave_up(session, failed)
    except Exception:
        log.exception("marking what %d failed deliveries carried failed", len(failed))


async def _recover_automatically(
    session: AsyncSession, comebacks: list[endpoints.Comeback]
) -> None:
    """An endpoint set to `auto_recover` that came back gets what failed during its streak
    sent again at once, in this transaction: the offer is taken before anyone sees it, and the
    commit wakes this worker (replay marks it). `healthy` reports only enabled endpoints, and
    `recover` refuses a disabled one; the check here keeps a refusal from failing the batch,
    which would be recorded one by one and fail again for ever."""
    for comeback in comebacks:
        if not (comeback.auto_recover and comeback.endpoint.enabled):
            continue
        counts = await replay.recover(session, comeback.endpoint, comeback.since)
        log.info(
            "webhook %d came back: %d failed deliveries sent again, %d missed events queued",
            comeback.endpoint.id,
            counts["redelivered"],
            counts["recovered"],
        )


async def _settle_successes(session: AsyncSession, jobs: list[Job], now: datetime) -> set[int]:
    if not jobs:
        return set()
    rows = await (await session.connection()).execute(
        _SUCCEEDED,
        {
            "ids": [j.delivery_id for j in jobs],
            "message_ids": [j.message_id for j in jobs],
            "now": now,
        },
    )
    return set(rows.scalars().all())


async def _settle_failure(
    session: AsyncSession, job: Job, outcome: Outcome, policy: Policy, now: datetime
) -> str | None:
    """Schedules the retry, or marks the delivery failed after the last one, or at once after
    a 410 Gone: its endpoint is disabled, so no retry would ever come (recovering the endpoint
    sends it again; its attempt records the 410). Returns the delivery's status now (None: it
    is gone)."""
    attempts = job.attempts + 1
    values: dict[str, object] = {"attempts": attempts, **claims.UNLEASED, "updated_at": now}
    asked = policy.retry_after(outcome.status, outcome.headers)
    delay = policy.retry_delay(attempts, asked, job.endpoint.kind)
    if delay is None or outcome.status == GONE:
        values["status"] = FAILED
    else:
        values["next_attempt_at"] = now + timedelta(seconds=delay)
    settled = await session.scalar(
        update(Delivery)
        .where(Delivery.id == job.delivery_id, Delivery.message_id == job.message_id)
        .values(values)
        .returning(Delivery.status)
    )
    return settled


async def _endpoint_health(
    session: AsyncSession,
    endpoint_id: int,
    outcomes: list[Outcome],
    policy: Policy,
    now: datetime,
) -> None:
    """For an endpoint with no success in the batch: 410 Gone disables at once; otherwise a
    streak of failures as long as `disable_after` disables the endpoint (it keeps its events
    for a recovery)."""
    if any(o.status == GONE for o in outcomes):
        await endpoints.disable(session, endpoint_id, "The endpoint answered 410 Gone", now)
        return
    outcome = outcomes[-1]
    await endpoints.failing(session, endpoint_id, now)
    reason = (
        f"Every attempt failed for {policy.disable_after_text}; last error: "
        f"{outcome.error_message or outcome.error_class or 'unknown'}"
    )
    cutoff = now - timedelta(seconds=policy.disable_after)
    await endpoints.disable(session, endpoint_id, reason, now, failing_by=cutoff)
