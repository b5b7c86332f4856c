"""/metrics per endpoint (issue 13.4): the one falling behind can be told apart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.outbox_rows import Rows
from voxsig import metrics
from voxsig.db import Database
from voxsig.kit.clock import utcnow

pytestmark = pytest.mark.anyio


async def samples(db: Database) -> dict[tuple[str, str, str], float]:
    """(metric, account_id, webhook_id) -> value, of the per-endpoint series."""
    found = {}
    for family in text_string_to_metric_families((await metrics.render(db)).decode()):
        for sample in family.samples:
            if sample.name.startswith("voxsig_webhook_endpoint_"):
                key = (sample.name, sample.labels["account_id"], sample.labels["webhook_id"])
                found[key] = sample.value
    return found


async def test_each_enabled_endpoint_with_a_backlog_has_its_own_pending_and_oldest_age(
    db: Database, rows: Rows
) -> None:
    account = await rows.account()
    behind = await rows.endpoint(account)
    fine = await rows.endpoint(account, url="http://b/")
    off = await rows.endpoint(account, url="http://c/", enabled=False)
    published = await rows.publish(account, times=3)  # a delivery to each endpoint per event
    first_to_behind = min(published)
    await rows.set_delivery(first_to_behind, created_at=utcnow() - timedelta(minutes=10))
    pending, oldest = (
        "voxsig_webhook_endpoint_pending_deliveries",
        "voxsig_webhook_endpoint_oldest_pending_seconds",
    )
    found = await samples(db)
    a = str(account)
    assert found[(pending, a, str(behind))] == 3
    assert found[(pending, a, str(fine))] == 3
    assert (pending, a, str(off)) not in found  # nothing tries it: not pending
    assert 599 < found[(oldest, a, str(behind))] < 610
    assert found[(oldest, a, str(fine))] < 60
    # An endpoint that drained loses its series at the next scrape.
    for delivery in published:
        await rows.set_delivery(delivery, status="succeeded")
    assert await samples(db) == {}
