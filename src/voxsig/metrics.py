"""Prometheus metrics of delivery (GET /metrics). Attempt counters and latencies are counted
by the worker of this process; pending figures are read from the database at scrape time, so
every process reports the same backlog. Pending deliveries of a disabled endpoint are not
counted: nothing tries them until it is enabled again."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select

from voxsig.db import Database
from voxsig.kit.clock import utcnow
from voxsig.models import Delivery
from voxsig.models.webhook import PENDING
from voxsig.outbox import endpoints

REGISTRY = CollectorRegistry()
# `kind`: the endpoint's (models.webhook.EndpointKind: an account's webhook, an inbox's callback).
ATTEMPTS = Counter(
    "voxsig_webhook_attempts",
    "Delivery attempts by outcome and endpoint kind",
    ["outcome", "kind"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "voxsig_webhook_attempt_seconds",
    "Duration of delivery attempts",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
    registry=REGISTRY,
)
PENDING_COUNT = Gauge(
    "voxsig_webhook_pending_deliveries",
    "Deliveries not yet settled that will be tried (those of enabled endpoints)",
    registry=REGISTRY,
)
OLDEST_AGE = Gauge(
    "voxsig_webhook_oldest_pending_seconds",
    "Age of the oldest pending delivery of an enabled endpoint",
    registry=REGISTRY,
)
# Per endpoint, so the one falling behind can be told apart (and alerted on). Only endpoints
# with something pending get a series: an idle installation exports none.
ENDPOINT = ["account_id", "webhook_id", "kind"]
ENDPOINT_PENDING = Gauge(
    "voxsig_webhook_endpoint_pending_deliveries",
    "Deliveries not yet settled of one enabled endpoint",
    ENDPOINT,
    registry=REGISTRY,
)
ENDPOINT_OLDEST_AGE = Gauge(
    "voxsig_webhook_endpoint_oldest_pending_seconds",
    "Age of the oldest pending delivery of one enabled endpoint",
    ENDPOINT,
    registry=REGISTRY,
)


def observe(outcome: str, kind: str, seconds: float) -> None:
    """`outcome`: "succeeded" or the attempt's error class; `kind`: the endpoint's."""
    ATTEMPTS.labels(outcome, kind).inc()
    LATENCY.observe(seconds)


# One grouped query per scrape: the totals are the sums of its rows.
_PENDING_BY_ENDPOINT = (
    select(
        endpoints.TABLE.account_id,
        Delivery.webhook_id,
        endpoints.TABLE.kind,
        func.count(),
        func.min(Delivery.created_at),
    )
    .join(endpoints.TABLE, endpoints.TABLE.id == Delivery.webhook_id)
    .where(Delivery.status == PENDING, endpoints.TABLE.enabled.is_(True))
    .group_by(endpoints.TABLE.account_id, Delivery.webhook_id, endpoints.TABLE.kind)
)


async def render(db: Database) -> bytes:
    async with db.sessions() as session:
        rows = (await session.execute(_PENDING_BY_ENDPOINT)).all()
    now = utcnow()
    # Series of endpoints that drained (or were deleted) since the last scrape go away.
    ENDPOINT_PENDING.clear()
    ENDPOINT_OLDEST_AGE.clear()
    for account_id, webhook_id, kind, count, oldest in rows:
        labels = (str(account_id), str(webhook_id), kind)
        ENDPOINT_PENDING.labels(*labels).set(count)
        ENDPOINT_OLDEST_AGE.labels(*labels).set((now - oldest).total_seconds())
    PENDING_COUNT.set(sum(count for *_, count, _ in rows))
    ages = [(now - oldest).total_seconds() for *_, oldest in rows]
    OLDEST_AGE.set(max(ages, default=0))
    return generate_latest(REGISTRY)
