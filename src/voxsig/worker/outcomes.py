"""Recording what an attempt came to, and what that means for the delivery and its endpoint."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.kit.clock import from_unix, utcnow
from voxsig.models import Delivery, DeliveryAttempt, Webhook
from voxsig.models.webhook import FAILED, SUCCEEDED
from voxsig.webhooks.policy import Policy
from voxsig.webhooks.transport import Outcome
from voxsig.worker.claims import Job


async def record(session: AsyncSession, job: Job, outcome: Outcome, policy: Policy) -> None:
    """Settles the delivery (succeeded, retried later, or failed) and stores the attempt. A
    delivery deleted meanwhile (its webhook was deleted) is skipped: the update matches on the
    delivery's unique message id too, so an attempt never lands on another row."""
    now = utcnow()
    attempts = job.attempts + 1
    values: dict[str, object] = {"attempts": attempts, "locked_until": None, "updated_at": now}
    if outcome.succeeded:
        values["status"] = SUCCEEDED
    else:
        delay = policy.retry_delay(attempts, policy.retry_after(outcome.status, outcome.headers))
        if delay is None:
            values["status"] = FAILED
        else:
            values["next_attempt_at"] = now + timedelta(seconds=delay)
    settled = await session.scalar(
        update(Delivery)
        .where(Delivery.id == job.delivery_id, Delivery.message_id == job.message_id)
        .values(values)
        .returning(Delivery.id)
    )
    if settled is None:
        return
    session.add(
        DeliveryAttempt(
            delivery_id=job.delivery_id,
            started_at=from_unix(outcome.started_at),
            duration_ms=outcome.duration_ms,
            response_status=outcome.status,
            response_headers=outcome.headers,
            response_body=outcome.body,
            error_class=outcome.error_class,
            error_message=outcome.error_message,
        )
    )
    await _endpoint_health(session, job.webhook_id, outcome, policy)


async def _endpoint_health(
    session: AsyncSession, webhook_id: int, outcome: Outcome, policy: Policy
) -> None:
    """Success clears the failure streak; 410 Gone disables at once; a streak of failures as
    long as `disable_after` disables the endpoint (it keeps its events for a recovery)."""
    now = utcnow()
    this = update(Webhook).where(Webhook.id == webhook_id)
    if outcome.succeeded:
        await session.execute(
            this.where(Webhook.failing_since.is_not(None)).values(failing_since=None)
        )
        return
    if outcome.status == 410:
        await disable(session, webhook_id, "The endpoint answered 410 Gone")
        return
    await session.execute(this.where(Webhook.failing_since.is_(None)).values(failing_since=now))
    cutoff = now - timedelta(seconds=policy.disable_after)
    reason = (
        f"Every attempt failed for {policy.disable_after_text}; last error: "
        f"{outcome.error_message or outcome.error_class or 'unknown'}"
    )
    await session.execute(
        update(Webhook)
        .where(Webhook.id == webhook_id, Webhook.enabled.is_(True), Webhook.failing_since <= cutoff)
        .values(enabled=False, disabled_at=now, updated_at=now, disabled_reason=reason[:1000])
    )


async def disable(session: AsyncSession, webhook_id: int, reason: str) -> None:
    now = utcnow()
    await session.execute(
        update(Webhook)
        .where(Webhook.id == webhook_id, Webhook.enabled.is_(True))
        .values(enabled=False, disabled_reason=reason, disabled_at=now, updated_at=now)
    )
