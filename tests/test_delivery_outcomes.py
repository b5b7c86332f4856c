"""What an endpoint's answers do to its deliveries, over the wire: retries, Retry-After, 410 Gone,
failure and redelivery, secret rotation, the SSRF guard at send time, a webhook deleted mid-send
and recovery after an automatic disable. Every Voxsig here is a real subprocess on a database of
its own (the `deploy` fixture), and every webhook lands on a real HTTP receiver on 127.0.0.1.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks.webhooks import Webhook as Verifier

from tests.support.client import JSON, ApiClient, ok
from tests.support.deliveries import (
    only_delivery,
    wait_for_attempts,
    wait_for_settled,
)
from tests.support.deployment import FAST, DeployFactory
from tests.support.factories import new_conversation, post_message, subscribe
from tests.support.receiver import Receiver, Reply
from tests.support.waiting import wait_until


def pending_gauge(url: str) -> float:
    """GET /metrics: the pending deliveries gauge."""
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "voxsig_webhook_pending_deliveries":
                return float(sample.value)
    raise AssertionError(f"no pending gauge in {response.text}")


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
    # The delivery that got the 410 is failed, not pending with a retry that never comes, and
    # /metrics counts nothing pending: nothing will be tried while the endpoint is disabled.
    gone = only_delivery(api, webhook["id"])
    detail = wait_for_settled(api, webhook["id"], gone["id"], "failed", 1, timeout=10)
    assert [a["response_status"] for a in detail["attempts"]] == [410]
    assert [a["error_class"] for a in detail["attempts"]] == ["http_status"]
    assert pending_gauge(deployment.server.url) == 0

    post_message(api, setup.conversation_id, "while disabled")
    time.sleep(2.5)  # retry schedule 1 s, poll 0.2 s: anything sent would have arrived
    assert [r.json()["content"] for r in receiver.requests("/gone")] == ["before"]
    assert pending_gauge(deployment.server.url) == 0

    enabled = ok(api.patch(path, json={"enabled": True}))["payload"]["webhook"]
    assert enabled["enabled"] is True
    assert enabled["disabled_reason"] is None
    assert enabled.get("recover_since"), enabled
    recovered = ok(api.post(f"{path}/recover", json={"since": enabled["recover_since"]}))
    assert recovered["payload"] == {"redelivered": 1, "recovered": 1}
    again = ok(api.post(f"{path}/recover", json={"since": enabled["recover_since"]}))
    assert again["payload"] == {"redelivered": 0, "recovered": 0}, "recovered twice"

    def contents() -> list[str]:
        return [r.json()["content"] for r in receiver.requests("/gone")]

    wait_until(
        lambda: "while disabled" in contents(), 15, lambda: f"received {contents()}", step=0.1
    )
    # The 410'd delivery was sent again by the recovery: same webhook-id, now succeeded.
    wait_until(
        lambda: contents().count("before") == 2, 15, lambda: f"received {contents()}", step=0.1
    )
    firsts = [r for r in receiver.requests("/gone") if r.json()["content"] == "before"]
    assert {r.headers["webhook-id"] for r in firsts} == {detail["message_id"]}
    wait_for_settled(api, webhook["id"], gone["id"], "succeeded", 2, timeout=10)
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
