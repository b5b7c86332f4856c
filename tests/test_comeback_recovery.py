"""An endpoint that comes back after an outage longer than its retry schedule: what failed
meanwhile is offered for recovery (GET webhooks/{id}, the webhook page), recovered on request
or dismissed, or recovered by itself with `auto_recover`. Real servers with a one-retry
schedule, a real receiver that fails (500) and then answers again, over HTTP."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from tests.support.client import JSON, ApiClient, ok
from tests.support.dashboard import logged_in
from tests.support.deployment import FAST, DeployFactory
from tests.support.factories import new_conversation, post_message
from tests.support.receiver import Received, Receiver
from tests.support.waiting import wait_until

# One retry, about a second after the first try: two failed answers and a delivery is failed.
SHORT = {**FAST, "VOXSIG_WEBHOOK_RETRY_SCHEDULE": "1"}


def hook(api: ApiClient, receiver: Receiver, path: str, **fields: Any) -> JSON:
    body = {"url": receiver.url(path), "subscriptions": ["message_created"], **fields}
    webhook: JSON = ok(api.post("webhooks", json=body))["payload"]["webhook"]
    return webhook


def state(api: ApiClient, webhook_id: int) -> JSON:
    webhook: JSON = ok(api.get(f"webhooks/{webhook_id}"))["payload"]["webhook"]
    return webhook


def count(api: ApiClient, webhook_id: int, status: str) -> int:
    listed = ok(api.get(f"webhooks/{webhook_id}/deliveries", params={"status": status}))
    total: int = listed["meta"]["count"]
    return total


def contents(receiver: Receiver, path: str) -> list[str]:
    return [r.json()["content"] for r in receiver.requests(path)]


def outage(api: ApiClient, receiver: Receiver, webhook_id: int, path: str, *lost: str) -> None:
    """Sends one message per text, each in a conversation of its own (so they go side by
    side), to a receiver that answers 500 to each first try and its retry: all end failed."""
    already = count(api, webhook_id, "failed")
    receiver.respond(path, *([500] * 2 * len(lost)))
    for text in lost:
        post_message(api, new_conversation(api).conversation_id, text)
    wait_until(
        lambda: count(api, webhook_id, "failed") == already + len(lost),
        20,
        lambda: f"received {contents(receiver, path)}",
        step=0.1,
    )


def comes_back(api: ApiClient, receiver: Receiver, webhook_id: int, path: str) -> None:
    """The receiver answers again: the next event is the endpoint's first success."""
    post_message(api, new_conversation(api).conversation_id, "back")
    wait_until(
        lambda: count(api, webhook_id, "succeeded") >= 1 and "back" in contents(receiver, path),
        15,
        lambda: f"received {contents(receiver, path)}",
        step=0.1,
    )


def wait_for_offer(api: ApiClient, webhook_id: int) -> JSON:
    seen: JSON = {}

    def offered() -> bool:
        nonlocal seen
        seen = state(api, webhook_id)
        return seen["recovery_offer"] is not None

    wait_until(offered, 10, lambda: f"webhook is {seen}", step=0.1)
    offer: JSON = seen["recovery_offer"]
    return offer


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def first_ids(requests: list[Received]) -> dict[str, str]:
    """Each message's webhook-id, as its first attempt carried it."""
    ids: dict[str, str] = {}
    for request in requests:
        ids.setdefault(request.json()["content"], request.headers["webhook-id"])
    return ids


def documented(server_url: str, answer: JSON) -> None:
    """The answer fits /openapi.json's WebhookEnvelope (no key more, none missing)."""
    document = ok(httpx.get(f"{server_url}/openapi.json", timeout=10))
    schema = {"$ref": "#/components/schemas/WebhookEnvelope", "components": document["components"]}
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(answer)]
    assert errors == [], errors


def test_a_comeback_offers_what_failed_recover_sends_it_and_dismiss_drops_it(
    deploy: DeployFactory, receiver: Receiver
) -> None:
    deployment = deploy(SHORT)
    api = deployment.account()
    webhook = hook(api, receiver, "/back")
    wid = webhook["id"]
    assert (webhook["auto_recover"], webhook["recovery_offer"]) == (False, None)

    # A failure that its retry makes good is a streak with nothing failed: no offer.
    receiver.respond("/back", 500)
    post_message(api, new_conversation(api).conversation_id, "retried")
    wait_until(lambda: count(api, wid, "succeeded") == 1, 15, lambda: "not delivered", step=0.1)
    assert state(api, wid)["recovery_offer"] is None

    outage(api, receiver, wid, "/back", "lost 1", "lost 2")
    assert state(api, wid)["recovery_offer"] is None  # still failing: nothing came back yet
    comes_back(api, receiver, wid, "/back")
    offer = wait_for_offer(api, wid)
    assert offer["failed"] == 2, offer
    assert moment(offer["since"]) < moment(offer["came_back_at"]), offer
    documented(deployment.server.url, ok(api.get(f"webhooks/{wid}")))
    listed = ok(api.get("webhooks"))["payload"]["webhooks"]
    assert [w["recovery_offer"] for w in listed] == [offer]

    # Accepting it: the failed ones are sent again, same webhook-id; the offer is gone.
    ids = first_ids(receiver.requests("/back"))
    recovered = ok(api.post(f"webhooks/{wid}/recover", json={"since": offer["since"]}))
    assert recovered["payload"] == {"redelivered": 2, "recovered": 0}
    assert state(api, wid)["recovery_offer"] is None
    wait_until(
        lambda: (
            contents(receiver, "/back").count("lost 1") == 3
            and contents(receiver, "/back").count("lost 2") == 3
        ),
        15,
        lambda: f"received {contents(receiver, '/back')}",
        step=0.1,
    )
    for request in receiver.requests("/back")[-2:]:
        assert request.headers["webhook-id"] == ids[request.json()["content"]]
    wait_until(lambda: count(api, wid, "failed") == 0, 10, lambda: "still failed", step=0.1)

    # Another outage; this time the offer is dismissed, and what failed stays failed.
    outage(api, receiver, wid, "/back", "lost 3")
    comes_back(api, receiver, wid, "/back")
    second = wait_for_offer(api, wid)
    assert second["failed"] == 1, second
    # The recovery took the first offer: this one starts with the new streak.
    assert moment(second["since"]) > moment(offer["came_back_at"]), (offer, second)
    refused = api.patch(f"webhooks/{wid}", json={"recovery_offer": {"since": offer["since"]}})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "recovery_offer"
    dismissed = ok(api.patch(f"webhooks/{wid}", json={"recovery_offer": None}))
    assert dismissed["payload"]["webhook"]["recovery_offer"] is None
    assert state(api, wid)["recovery_offer"] is None
    assert count(api, wid, "failed") == 1
    assert contents(receiver, "/back").count("lost 3") == 2  # its two failed tries only


def test_auto_recover_sends_what_failed_again_as_soon_as_the_endpoint_is_back(
    deploy: DeployFactory, receiver: Receiver
) -> None:
    deployment = deploy(SHORT)
    api = deployment.account()
    refused = api.post(
        "webhooks",
        json={"url": receiver.url("/auto"), "subscriptions": ["message_created"],
              "auto_recover": "yes"},
    )  # fmt: skip
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "auto_recover"
    webhook = hook(api, receiver, "/auto", auto_recover=True)
    wid = webhook["id"]
    assert webhook["auto_recover"] is True

    outage(api, receiver, wid, "/auto", "lost 1", "lost 2")
    ids = first_ids(receiver.requests("/auto"))
    comes_back(api, receiver, wid, "/auto")
    # No call: the comeback itself sends them again, with their webhook-ids.
    wait_until(
        lambda: count(api, wid, "succeeded") == 3,
        15,
        lambda: f"received {contents(receiver, '/auto')}",
        step=0.1,
    )
    again = [r for r in receiver.requests("/auto") if r.json()["content"] != "back"][-2:]
    assert sorted(r.json()["content"] for r in again) == ["lost 1", "lost 2"]
    for request in again:
        assert request.headers["webhook-id"] == ids[request.json()["content"]]
    assert count(api, wid, "failed") == 0
    assert state(api, wid)["recovery_offer"] is None

    turned_off = api.patch(f"webhooks/{wid}", json={"auto_recover": False})
    assert ok(turned_off)["payload"]["webhook"]["auto_recover"] is False
    refused = api.patch(f"webhooks/{wid}", json={"auto_recover": 1})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "auto_recover"


BANNER = re.compile(
    r"It came back at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC after failing since "
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: (\d+) deliver(?:y|ies) failed meanwhile"
)


def failed_shown(page: str) -> int | None:
    """The count in the page's comeback banner, None without one."""
    shown = BANNER.search(page)
    return None if shown is None else int(shown.group(1))


def test_the_webhook_page_offers_the_recovery_and_sets_it_automatic(
    deploy: DeployFactory, receiver: Receiver
) -> None:
    deployment = deploy(SHORT)
    api = deployment.account()
    wid = hook(api, receiver, "/page")["id"]
    dashboard = logged_in(api)
    base = f"/app/webhooks/{wid}"
    assert "Recover them" not in dashboard.page(base)

    outage(api, receiver, wid, "/page", "lost 1", "lost 2")
    comes_back(api, receiver, wid, "/page")
    wait_for_offer(api, wid)
    assert failed_shown(dashboard.page(base)) == 2
    assert f'action="{base}/offer/recover"' in dashboard.page(base)
    # Without the CSRF token nothing happens.
    assert dashboard.http.post(f"{base}/offer/recover").status_code == 403
    assert count(api, wid, "failed") == 2

    after = dashboard.follow(f"{base}/offer/recover")
    assert "2 failed deliveries sent again, 0 missed events delivered." in after
    assert failed_shown(after) is None
    wait_until(
        lambda: contents(receiver, "/page").count("lost 2") == 3,
        15,
        lambda: f"received {contents(receiver, '/page')}",
        step=0.1,
    )

    outage(api, receiver, wid, "/page", "lost 3")
    comes_back(api, receiver, wid, "/page")
    wait_for_offer(api, wid)
    assert failed_shown(dashboard.page(base)) == 1
    after = dashboard.follow(f"{base}/offer/dismiss")
    assert failed_shown(after) is None
    assert state(api, wid)["recovery_offer"] is None
    assert count(api, wid, "failed") == 1

    # The setting, in the edit form.
    form = {"url": receiver.url("/page"), "subscriptions": "message_created"}
    assert 'name="auto_recover" aria-describedby="f-auto_recover-hint">' in dashboard.page(base)
    dashboard.follow(base, {**form, "auto_recover": "on"})
    assert state(api, wid)["auto_recover"] is True
    assert 'name="auto_recover" aria-describedby="f-auto_recover-hint" checked>' in (
        dashboard.page(base)
    )
    dashboard.follow(base, form)  # a checkbox left unticked is not sent at all
    assert state(api, wid)["auto_recover"] is False
