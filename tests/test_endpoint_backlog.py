"""A slow endpoint falls behind in plain sight (issue 13.4): each endpoint has its own
`max_in_flight` (API and dashboard, bounded by the worker's whole cap), its answer and page show
its backlog with a drain estimate, and /metrics has its pending figures."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.client import JSON, ApiClient, ok
from tests.support.dashboard import logged_in
from tests.support.deployment import FAST, DeployFactory
from tests.support.factories import new_conversation, post_message, subscribe
from tests.support.receiver import Received, Receiver, Reply
from tests.support.waiting import wait_until

SLOW = 1.5  # seconds the slow receiver takes over each delivery
CAP = 2
SENT = 6


def webhook(api: ApiClient, webhook_id: int) -> JSON:
    found: JSON = ok(api.get(f"webhooks/{webhook_id}"))["payload"]["webhook"]
    return found


def most_at_once(requests: list[Received]) -> int:
    """The most requests that arrived within one slow answer of each other: with a cap of n,
    the (n+1)th waits for the first answer, SLOW seconds later."""
    arrivals = sorted(r.at for r in requests)
    return max(sum(1 for b in arrivals if a <= b < a + SLOW * 0.8) for a in arrivals)


def refused(response: httpx.Response, field: str) -> str:
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == field, error
    return str(error["message"])


def test_max_in_flight_is_set_bounded_and_reset_through_the_api(
    deploy: DeployFactory, receiver: Receiver
) -> None:
    deployment = deploy({**FAST, "VOXSIG_WEBHOOK_MAX_IN_FLIGHT": "40"})
    api = deployment.account()
    usual = subscribe(api, receiver, "/usual")
    assert usual["max_in_flight"] == 16  # VOXSIG_WEBHOOK_MAX_PER_ENDPOINT's default
    assert usual["backlog"] == {
        "pending": 0,
        "oldest_pending_at": None,
        "delivered_per_minute": 0.0,
        "drain_estimate_seconds": 0,
    }
    body = {"url": receiver.url("/own"), "subscriptions": ["message_created"], "max_in_flight": 3}
    own = ok(api.post("webhooks", json=body))["payload"]["webhook"]
    assert own["max_in_flight"] == 3
    path = f"webhooks/{own['id']}"
    assert ok(api.patch(path, json={"max_in_flight": 40}))["payload"]["webhook"]["max_in_flight"]
    assert "at most 40" in refused(api.patch(path, json={"max_in_flight": 41}), "max_in_flight")
    for wrong in (0, -1, "5", 2.5, True):
        refused(api.patch(path, json={"max_in_flight": wrong}), "max_in_flight")
    assert webhook(api, own["id"])["max_in_flight"] == 40  # nothing refused was kept
    reset = ok(api.patch(path, json={"max_in_flight": None}))["payload"]["webhook"]
    assert reset["max_in_flight"] == 16


def test_a_slow_endpoint_gets_its_own_cap_and_shows_its_backlog(
    deploy: DeployFactory, receiver: Receiver
) -> None:
    deployment = deploy(FAST)
    api = deployment.account()
    slow = subscribe(api, receiver, "/slow", ["message_created"])
    wid = slow["id"]
    ok(api.patch(f"webhooks/{wid}", json={"max_in_flight": CAP}))
    receiver.respond("/slow", *[Reply(200, delay=SLOW)] * SENT)
    for number in range(SENT):  # each of its own conversation: order holds nothing back
        post_message(api, new_conversation(api).conversation_id, f"slow {number}")

    # While it works through them: a backlog, and once some got through, an estimate.
    receiver.wait_for(CAP + 1, "/slow", timeout=20)
    behind = webhook(api, wid)["backlog"]
    assert 0 < behind["pending"] < SENT, behind
    assert behind["oldest_pending_at"] is not None
    assert behind["delivered_per_minute"] > 0, behind
    assert behind["drain_estimate_seconds"] is not None, behind
    assert 0 < behind["drain_estimate_seconds"] < 600, behind
    series = per_endpoint_metrics(deployment.server.url)
    assert series[("pending", str(api.account_id), str(wid))] >= 1, series

    got = receiver.wait_for(SENT, "/slow", timeout=SENT * SLOW + 20)
    assert most_at_once(got) == CAP, [round(r.at - got[0].at, 2) for r in got]
    wait_until(lambda: webhook(api, wid)["backlog"]["pending"] == 0, 15, lambda: "still pending")
    assert webhook(api, wid)["backlog"]["drain_estimate_seconds"] == 0


def per_endpoint_metrics(server_url: str) -> dict[tuple[str, str, str], float]:
    text = ok_text(httpx.get(f"{server_url}/metrics", timeout=10))
    found: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "voxsig_webhook_endpoint_pending_deliveries":
                labels = sample.labels
                found[("pending", labels["account_id"], labels["webhook_id"])] = sample.value
    return found


def ok_text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.text


def test_the_webhook_page_shows_the_backlog_and_sets_the_cap(
    deploy: DeployFactory, receiver: Receiver
) -> None:
    deployment = deploy(FAST)
    api = deployment.account()
    wid = subscribe(api, receiver, "/page", ["message_created"])["id"]
    dashboard = logged_in(api)
    base = f"/app/webhooks/{wid}"
    page = dashboard.page(base)
    assert "Nothing pending: it is up to date." in page
    assert "Up to 16 deliveries are sent to it at once (the default)." in page
    form: dict[str, Any] = {"url": receiver.url("/page"), "subscriptions": "message_created"}
    after = dashboard.follow(base, {**form, "max_in_flight": "4"})
    assert "Up to 4 deliveries are sent to it at once." in after
    assert webhook(api, wid)["max_in_flight"] == 4
    shown = dashboard.post(base, {**form, "max_in_flight": "many"})
    assert shown.status_code == 200, shown.status_code  # the form again, with the error
    assert 'id="f-max_in_flight-error"' in shown.text
    assert webhook(api, wid)["max_in_flight"] == 4
    dashboard.follow(base, form)  # emptied: back to the default
    assert webhook(api, wid)["max_in_flight"] == 16

    # A delivery waiting for its retry (5 s away), and then the endpoint disabled.
    receiver.respond("/page", 500)
    post_message(api, new_conversation(api).conversation_id, "waits")
    receiver.wait_for(1, "/page", timeout=10)
    ok(api.patch(f"webhooks/{wid}", json={"enabled": False}))
    assert webhook(api, wid)["backlog"]["pending"] == 1
    page = dashboard.page(base)
    assert "1 delivery pending" in page
    assert "Disabled: they wait until it is enabled." in page
    assert webhook(api, wid)["backlog"]["drain_estimate_seconds"] is None
