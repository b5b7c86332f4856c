"""Isolation in delivery: a hanging endpoint holds only its own slots, events of a conversation
arrive in order however concurrently they were created, and the backlog is visible in
Prometheus metrics. Real Voxsig subprocesses, real receiver on 127.0.0.1."""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.client import JSON, ApiClient, ok
from tests.support.deliveries import publish_events, wait_for_attempts, webhook_ids
from tests.support.deployment import FAST, DeployFactory
from tests.support.factories import api_inbox, new_conversation, post_message, subscribe
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until


def find_delivery(api: ApiClient, webhook_id: int, message_id: str, pages: int = 20) -> JSON:
    """The delivery whose webhook-id is `message_id`, looked up through the delivery log."""
    for page in range(1, pages + 1):
        listed = ok(api.get(f"webhooks/{webhook_id}/deliveries", params={"page": page}))
        for delivery in listed["payload"]:
            if delivery["message_id"] == message_id:
                found: JSON = delivery
                return found
        if not listed["payload"]:
            break
    raise AssertionError(f"no delivery {message_id} in the log of webhook {webhook_id}")


# -- a. a hanging endpoint does not hold back a healthy one ---------------------------------

# 6 s rather than 3: on a small, busy machine (2 cores shared with other test runs) 200
# deliveries alone have taken 4.7 s, and this test is about slots, not about raw speed.
TIMEOUT = 6.0
PER_ENDPOINT_CAP = 16  # VOXSIG_WEBHOOK_MAX_PER_ENDPOINT's default
# Fewer slots than hanging deliveries: without a per-endpoint cap the hanging endpoint would
# take every slot and the healthy one would wait for timeouts.
MAX_IN_FLIGHT = 2 * PER_ENDPOINT_CAP
SIDE_BY_SIDE = 200


def test_a_hanging_endpoint_does_not_delay_a_healthy_one(
    deploy: DeployFactory, receiver: Receiver
) -> None:
    deployment = deploy(
        {
            **FAST,
            "VOXSIG_WEBHOOK_TIMEOUT": str(TIMEOUT),
            "VOXSIG_WEBHOOK_MAX_IN_FLIGHT": str(MAX_IN_FLIGHT),
            "VOXSIG_WEBHOOK_RETRY_SCHEDULE": "60",  # no retry within the test
        }
    )
    api = deployment.account()
    hanging = subscribe(api, receiver, "/hanging", ["message_created"])
    subscribe(api, receiver, "/healthy", ["message_created"])
    receiver.respond("/hanging", *[200] * SIDE_BY_SIDE, delay=30.0)
    publish_events(deployment.database_url, api.account_id, {"message_created": SIDE_BY_SIDE})

    healthy = receiver.wait_for(SIDE_BY_SIDE, "/healthy", timeout=30)
    hung = receiver.wait_for(1, "/hanging", timeout=10)
    assert len(set(webhook_ids(healthy))) == SIDE_BY_SIDE
    first_hang = min(r.at for r in hung)
    last_healthy = max(r.at for r in healthy)
    print(
        f"healthy: {SIDE_BY_SIDE} arrived within {last_healthy - first_hang:+.2f} s of the first "
        f"request to the hanging endpoint ({min(r.at for r in healthy) - first_hang:+.2f} s first)"
    )
    assert first_hang < last_healthy, "precondition: the endpoint hung while the other was served"
    # Every healthy delivery arrived before the first hanging request could have timed out.
    assert last_healthy < first_hang + TIMEOUT, (
        f"the last healthy delivery came {last_healthy - first_hang:.2f} s after the first "
        f"request to the hanging endpoint (timeout {TIMEOUT} s)"
    )
    # The hanging endpoint held at most its cap of the worker's slots meanwhile.
    held = [r for r in receiver.requests("/hanging") if r.at < first_hang + TIMEOUT - 0.5]
    assert len(held) <= PER_ENDPOINT_CAP, f"{len(held)} requests to the hanging endpoint at once"

    first = find_delivery(api, hanging["id"], hung[0].headers["webhook-id"])
    detail = wait_for_attempts(api, hanging["id"], first["id"], 1, 15, deployment.logs)
    attempt = detail["attempts"][0]
    assert attempt["error_class"] == "timeout", attempt
    assert attempt["response_status"] is None
    assert TIMEOUT * 1000 * 0.9 <= attempt["duration_ms"] <= TIMEOUT * 1000 + 3000, attempt
    assert detail["status"] == "pending"


# -- b. events of a conversation arrive in order, however concurrently created ---------------

CONVERSATIONS = 5
MESSAGES_EACH = 40


def test_events_of_each_conversation_arrive_in_order_under_concurrency(
    api: ApiClient, receiver: Receiver
) -> None:
    subscribe(api, receiver, "/order", ["conversation_created", "message_created"])
    inbox_id = api_inbox(api)["id"]
    local = threading.local()

    def client() -> ApiClient:
        if not hasattr(local, "client"):
            local.client = ApiClient(api.url, api.credentials)
        made: ApiClient = local.client
        return made

    def send(conversation_id: int, number: int) -> tuple[int, int]:
        content = f"c{conversation_id}-m{number}"
        message = post_message(client(), conversation_id, content)
        return conversation_id, int(message["id"])

    clients: list[ApiClient] = []
    with ThreadPoolExecutor(max_workers=10) as pool:
        conversations = [
            s.conversation_id
            for s in pool.map(lambda _: new_conversation(api, inbox_id), range(CONVERSATIONS))
        ]
        # Round robin: every conversation gets messages from several threads at once.
        jobs = [(c, n) for n in range(MESSAGES_EACH) for c in conversations]
        sent = list(pool.map(lambda job: send(*job), jobs))
        clients.extend(pool.map(lambda _: client(), range(10)))
    for made in {id(c): c for c in clients}.values():
        made.close()

    created: dict[int, set[int]] = defaultdict(set)
    for conversation_id, message_id in sent:
        created[conversation_id].add(message_id)
    total = CONVERSATIONS * (1 + MESSAGES_EACH)
    got = [r.json() for r in receiver.wait_for(total, "/order", timeout=45)]

    arrived: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for body in got:
        if body["event"] == "conversation_created":
            arrived[body["id"]].append(("conversation_created", body["id"]))
        else:
            arrived[body["conversation"]["id"]].append(("message_created", body["id"]))
    assert set(arrived) == set(conversations)
    for conversation_id in conversations:
        events = arrived[conversation_id]
        assert events[0] == ("conversation_created", conversation_id), events[:3]
        message_ids = [i for name, i in events[1:] if name == "message_created"]
        assert len(message_ids) == len(events) - 1, events
        assert set(message_ids) == created[conversation_id]
        out_of_order = [(a, b) for a, b in itertools.pairwise(message_ids) if a > b]
        assert out_of_order == [], (
            f"conversation {conversation_id}: message_created out of order {out_of_order[:5]} "
            f"in {message_ids}"
        )


# -- c. Prometheus metrics --------------------------------------------------------------------


def scrape(url: str) -> dict[str, float]:
    """GET /metrics: every sample, keyed `name{label="value",...}` (labels sorted)."""
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def test_metrics_count_attempts_and_pending_deliveries(
    deploy: DeployFactory, receiver: Receiver
) -> None:
    deployment = deploy({**FAST, "VOXSIG_WEBHOOK_RETRY_SCHEDULE": "3,3,3"})
    api = deployment.account()
    subscribe(api, receiver, "/metered", ["message_created"])
    url = deployment.server.url
    before = scrape(url)
    assert before["voxsig_webhook_pending_deliveries"] == 0
    receiver.respond("/metered", 500)
    setup = new_conversation(api)
    post_message(api, setup.conversation_id, "count me")

    failed = 'voxsig_webhook_attempts_total{kind="account",outcome="http_status"}'
    succeeded = 'voxsig_webhook_attempts_total{kind="account",outcome="succeeded"}'
    seen: dict[str, Any] = {}

    def scraped(check: Any) -> bool:
        nonlocal seen
        seen = scrape(url)
        return bool(check(seen))

    # After the 500, before its retry (3 s +-20 %): one failed attempt, one pending delivery.
    wait_until(lambda: scraped(lambda s: s.get(failed) == 1), 10, lambda: str(seen), step=0.1)
    assert seen["voxsig_webhook_pending_deliveries"] == 1
    assert seen.get(succeeded, 0) == 0
    assert seen["voxsig_webhook_oldest_pending_seconds"] > 0
    # After the retry succeeded: nothing pending.
    wait_until(lambda: scraped(lambda s: s.get(succeeded) == 1), 15, lambda: str(seen), step=0.1)
    assert seen["voxsig_webhook_pending_deliveries"] == 0
    assert seen[failed] == 1
    assert seen["voxsig_webhook_attempt_seconds_count"] == 2
    assert len(receiver.requests("/metered")) == 2
