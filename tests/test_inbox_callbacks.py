"""An API inbox's `webhook_url`, called as Chatwoot calls it: every event of the inbox, no
subscription list, in Chatwoot's payload format by default; and, beyond Chatwoot, through the
outbox like an account webhook (signed with a secret of its own, retried, logged, replayed,
counted in /metrics by endpoint kind). Real receivers on 127.0.0.1, both databases."""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
from nacl.signing import VerifyKey
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks.webhooks import Webhook as Verifier

from harness.processes import free_port
from tests.conftest import Backend
from tests.support.client import JSON, ApiClient, error, fields_of, ok
from tests.support.dashboard import logged_in
from tests.support.deployment import FAST, DeployFactory
from tests.support.factories import (
    api_inbox,
    create_conversation,
    events_of,
    messages_of,
    new_contact,
    post_message,
    subscribe,
)
from tests.support.receiver import Received, Receiver
from tests.support.waiting import wait_until

INBOX_EVENTS = [
    "conversation_created",
    "message_created",
    "message_updated",
    "conversation_status_changed",
    "conversation_updated",
]


def callback_inbox(api: ApiClient, url: str, name: str = "WhatsApp") -> JSON:
    body = {"name": name, "channel": {"type": "api", "webhook_url": url}}
    inbox: JSON = ok(api.post("inboxes", json=body))
    return inbox


def callback_of(api: ApiClient, inbox_id: int) -> JSON:
    endpoint: JSON = ok(api.get(f"inboxes/{inbox_id}/callback"))["payload"]["webhook"]
    return endpoint


def conversation_in(api: ApiClient, inbox_id: int) -> int:
    contact = new_contact(api, inbox_id, name="Ana")["contact"]
    conversation_id: int = create_conversation(api, inbox_id, contact["id"])["id"]
    return conversation_id


def deliveries_of(api: ApiClient, inbox_id: int, **params: str) -> list[JSON]:
    page = ok(api.get(f"inboxes/{inbox_id}/deliveries", params=params))
    found: list[JSON] = page["payload"]
    return found


def test_every_event_of_the_inbox_arrives_once_signed_in_chatwoot_format(
    api: ApiClient, receiver: Receiver
) -> None:
    inbox = callback_inbox(api, receiver.url("/gateway"))
    assert inbox["webhook_url"] == receiver.url("/gateway")
    endpoint = callback_of(api, inbox["id"])
    assert endpoint["payload_format"] == "chatwoot"
    assert endpoint["secret"].startswith("whsec_")
    other = api_inbox(api, "Elsewhere")  # another inbox's events never reach this callback

    conversation_id = conversation_in(api, inbox["id"])
    conversation_in(api, other["id"])
    message = post_message(api, conversation_id, "Your order shipped", message_type="outgoing")
    api.patch(f"messages/{message['id']}", json={"content": "Your order has shipped"})
    api.post(f"conversations/{conversation_id}/toggle_status", json={"status": "resolved"})

    got = receiver.wait_for(len(INBOX_EVENTS), "/gateway")
    assert sorted(events_of(got)) == sorted(INBOX_EVENTS)
    verifier = Verifier(endpoint["secret"])
    for request in got:
        assert verifier.verify(request.body, request.headers) == request.json()
    created = next(r.json() for r in got if r.json()["event"] == "message_created")
    # Chatwoot's server: the name at the top level, the integer inside the conversation.
    assert created["message_type"] == "outgoing"
    assert isinstance(created["created_at"], str)
    assert created["conversation"]["messages"][0]["message_type"] == 1
    assert {r.json().get("id") for r in got if r.json()["event"].startswith("conversation")} == {
        conversation_id
    }
    log = deliveries_of(api, inbox["id"])
    assert sorted(d["event"] for d in log) == sorted(INBOX_EVENTS)
    wait_until(
        lambda: all(d["status"] == "succeeded" for d in deliveries_of(api, inbox["id"])),
        10,
        lambda: f"the callback's deliveries settled: {deliveries_of(api, inbox['id'])}",
    )


def test_callbacks_are_counted_by_endpoint_kind(
    api: ApiClient, receiver: Receiver, backend: Backend
) -> None:
    server_url = backend.url
    inbox = callback_inbox(api, receiver.url("/counted"))
    before = attempts_of_kind(server_url, "inbox")
    conversation_in(api, inbox["id"])
    receiver.wait_for(1, "/counted")
    wait_until(
        lambda: attempts_of_kind(server_url, "inbox") > before,
        10,
        lambda: "no attempt of kind inbox in /metrics",
    )


def attempts_of_kind(server_url: str, kind: str) -> float:
    text = httpx.get(f"{server_url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "voxsig_webhook_attempts_total" and sample.labels.get("kind") == kind
    )


def test_a_blank_webhook_url_means_no_callback(api: ApiClient, receiver: Receiver) -> None:
    inbox = callback_inbox(api, "")  # Chatwoot's own examples send it
    assert inbox["webhook_url"] is None
    assert fields_of(error(api.get(f"inboxes/{inbox['id']}/callback"), 404)) == ["inbox_id"]

    ok(api.patch(f"inboxes/{inbox['id']}", json={"channel": {"webhook_url": receiver.url("/x")}}))
    endpoint = callback_of(api, inbox["id"])
    ok(api.patch(f"inboxes/{inbox['id']}", json={"webhook_url": receiver.url("/y")}))
    moved = callback_of(api, inbox["id"])
    assert (moved["id"], moved["secret"], moved["url"]) == (
        endpoint["id"],
        endpoint["secret"],
        receiver.url("/y"),
    )
    cleared = ok(api.patch(f"inboxes/{inbox['id']}", json={"webhook_url": ""}))
    assert cleared["webhook_url"] is None
    error(api.get(f"inboxes/{inbox['id']}/callback"), 404)


def test_a_callback_is_the_inboxs_not_one_of_the_accounts_webhooks(
    api: ApiClient, receiver: Receiver
) -> None:
    url = receiver.url("/shared")
    inbox = callback_inbox(api, url)
    second = callback_inbox(api, url, "WhatsApp 2")  # one gateway, one URL, several inboxes
    endpoint = callback_of(api, inbox["id"])
    listed = ok(api.get("webhooks"))["payload"]["webhooks"]
    assert endpoint["id"] not in [w["id"] for w in listed]
    error(api.get(f"webhooks/{endpoint['id']}"), 404)
    error(api.delete(f"webhooks/{endpoint['id']}"), 404)
    webhook = subscribe(api, receiver, "/shared", ["message_created"])  # same URL: allowed
    assert webhook["id"] != endpoint["id"] != callback_of(api, second["id"])["id"]


def test_bad_callback_urls_are_refused_naming_webhook_url(api: ApiClient) -> None:
    for url in ("not a url", "ftp://files.example/x", "http://10.1.2.3/hook"):
        body = {"name": "Bad", "channel": {"type": "api", "webhook_url": url}}
        named = fields_of(error(api.post("inboxes", json=body), 422))
        assert named in (["channel.webhook_url"], ["webhook_url"]), url
    inbox = api_inbox(api)
    refused = error(
        api.patch(f"inboxes/{inbox['id']}", json={"webhook_url": "http://10.0.0.9/"}), 422
    )
    assert fields_of(refused) == ["webhook_url"]
    error(api.get(f"inboxes/{inbox['id']}/callback"), 404)


def test_callback_settings_secret_rotation_and_format(api: ApiClient, receiver: Receiver) -> None:
    inbox = callback_inbox(api, receiver.url("/settings"))
    old = callback_of(api, inbox["id"])
    rotated = ok(api.post(f"inboxes/{inbox['id']}/callback/rotate_secret"))["payload"]["webhook"]
    assert rotated["secret"] != old["secret"]
    changed = ok(api.patch(f"inboxes/{inbox['id']}/callback", json={"payload_format": "voxsig"}))
    assert changed["payload"]["webhook"]["payload_format"] == "voxsig"
    bad = error(api.patch(f"inboxes/{inbox['id']}/callback", json={"payload_format": "x"}), 422)
    assert fields_of(bad) == ["payload_format"]

    conversation_id = conversation_in(api, inbox["id"])
    post_message(api, conversation_id, "hello", message_type="outgoing")
    got = receiver.wait_for(2, "/settings")
    created = next(r for r in got if r.json()["event"] == "message_created")
    assert created.json()["message_type"] == 1  # the voxsig format now
    for secret in (old["secret"], rotated["secret"]):  # both sign during the overlap
        assert Verifier(secret).verify(created.body, created.headers) == created.json()


def test_an_asymmetric_callback_verifies_with_its_public_key_alone(
    api: ApiClient, receiver: Receiver
) -> None:
    inbox = callback_inbox(api, receiver.url("/v1a"))
    changed = ok(api.patch(f"inboxes/{inbox['id']}/callback", json={"signing": "asymmetric"}))
    endpoint = changed["payload"]["webhook"]
    assert endpoint["signing"] == "asymmetric"
    assert endpoint["public_key"].startswith("whpk_")
    conversation_in(api, inbox["id"])
    (request,) = receiver.wait_for(1, "/v1a")
    signatures = dict(s.split(",", 1) for s in request.headers["webhook-signature"].split())
    key = VerifyKey(base64.b64decode(endpoint["public_key"].removeprefix("whpk_")))
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}."
    key.verify(signed.encode() + request.body, base64.b64decode(signatures["v1a"]))


def test_another_accounts_inbox_callback_is_not_found(
    api: ApiClient, make_account: Callable[..., ApiClient], receiver: Receiver
) -> None:
    other_api = make_account()
    inbox = callback_inbox(api, receiver.url("/mine"))
    for path in ("callback", "deliveries", "deliveries/1"):
        error(other_api.get(f"inboxes/{inbox['id']}/{path}"), 404)
    error(other_api.post(f"inboxes/{inbox['id']}/callback/rotate_secret"), 404)
    error(other_api.patch(f"inboxes/{inbox['id']}/callback", json={"enabled": False}), 404)
    assert callback_of(api, inbox["id"])["enabled"] is True


def test_a_callback_failing_for_good_marks_the_message_failed_and_replays_the_same_bytes(
    deploy: DeployFactory, receiver: Receiver
) -> None:
    deployment = deploy({**FAST, "VOXSIG_WEBHOOK_RETRY_SCHEDULE": "1"})
    api = deployment.account()
    closed = f"http://127.0.0.1:{free_port()}/gone"  # nobody listens: every attempt fails
    inbox = callback_inbox(api, closed)
    conversation_id = conversation_in(api, inbox["id"])
    message = post_message(api, conversation_id, "Your code is 4411", message_type="outgoing")

    def shown() -> JSON:
        (found,) = [m for m in messages_of(api, conversation_id) if m["id"] == message["id"]]
        return found

    wait_until(lambda: shown()["status"] == "failed", 20, lambda: f"not failed: {shown()}")
    marked = shown()
    assert "did not accept it" in marked["content_attributes"]["external_error"]
    (delivery,) = deliveries_of(api, inbox["id"], event="message_created", status="failed")
    detail = ok(api.get(f"inboxes/{inbox['id']}/deliveries/{delivery['id']}"))["payload"]
    assert [a["error_class"] for a in detail["attempts"]] == ["connection", "connection"]
    assert '"message_type":"outgoing"' in detail["request_body"]

    # Pointed at a live receiver, the replay sends the very bytes that failed, same webhook-id.
    ok(api.patch(f"inboxes/{inbox['id']}", json={"webhook_url": receiver.url("/back")}))
    ok(api.post(f"inboxes/{inbox['id']}/deliveries/{delivery['id']}/redeliver"))

    def replays() -> list[Received]:
        arrived = receiver.requests("/back")  # the other events' retries may come here too
        return [r for r in arrived if r.headers["webhook-id"] == detail["message_id"]]

    wait_until(lambda: len(replays()) == 1, 10, lambda: f"no replay: {receiver.requests()}")
    assert replays()[0].body == detail["request_body"].encode()


def test_the_inbox_page_shows_its_callback_and_the_log_and_a_failed_message_shows(
    deploy: DeployFactory, receiver: Receiver
) -> None:
    deployment = deploy({**FAST, "VOXSIG_WEBHOOK_RETRY_SCHEDULE": "1"})
    api = deployment.account()
    inbox = callback_inbox(api, f"http://127.0.0.1:{free_port()}/nobody")
    endpoint = callback_of(api, inbox["id"])
    conversation_id = conversation_in(api, inbox["id"])
    message = post_message(api, conversation_id, "Parcel 77 is ready", message_type="outgoing")
    wait_until(
        lambda: any(
            m["id"] == message["id"] and m["status"] == "failed"
            for m in messages_of(api, conversation_id)
        ),
        20,
        lambda: "the message was not marked failed",
    )
    dashboard = logged_in(api)
    try:
        shown = dashboard.page(f"/app/settings/inboxes/{inbox['id']}")
        assert endpoint["url"] in shown
        assert endpoint["secret"] in shown
        assert f"/app/webhooks/{endpoint['id']}/deliveries" in shown
        log = dashboard.page(f"/app/webhooks/{endpoint['id']}/deliveries")
        assert "message_created" in log
        assert f"/app/settings/inboxes/{inbox['id']}" in log  # back to the inbox, not a webhook
        thread = dashboard.page(f"/app/conversations/{conversation_id}")
        assert "Not delivered" in thread
        assert "did not accept it" in thread

        saved = dashboard.follow(
            f"/app/settings/inboxes/{inbox['id']}/callback", {"payload_format": "voxsig"}
        )
        assert "Callback saved" in saved
        assert callback_of(api, inbox["id"])["payload_format"] == "voxsig"
        # Its page is the inbox's: the webhook edit and delete pages do not serve it.
        assert dashboard.get(f"/app/webhooks/{endpoint['id']}").status_code == 404
        cleared = dashboard.follow(
            f"/app/settings/inboxes/{inbox['id']}", {"name": inbox["name"], "webhook_url": ""}
        )
        assert "Inbox saved" in cleared
        error(api.get(f"inboxes/{inbox['id']}/callback"), 404)
    finally:
        dashboard.close()
