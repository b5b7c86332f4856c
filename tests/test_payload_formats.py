"""Payload formats over HTTP, on both databases: an account webhook in `chatwoot` format gets
Chatwoot's shapes (docs/payload-formats.md), the same event reaches a `voxsig` endpoint in the
seed's, retries and redeliveries send the same bytes, and GET /api/v1/webhook_events serves
the schemas every delivered body in the suite is checked against (the receiver fixture)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from tests.conftest import Backend
from tests.support.client import JSON, ApiClient, ok
from tests.support.deliveries import only_delivery, wait_for_settled
from tests.support.factories import by_event, new_conversation, post_message, subscribe
from tests.support.receiver import Receiver
from tests.support.webhook_schema import problems
from voxsig.events.names import ALL, DESCRIPTIONS
from voxsig.events.schemas import SCHEMAS
from voxsig.views.formats import chatwoot

ISO = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"


def pair(api: ApiClient, receiver: Receiver, events: list[str]) -> tuple[JSON, JSON]:
    voxsig = subscribe(api, receiver, "/voxsig", events)
    cw = subscribe(api, receiver, "/chatwoot", events, payload_format="chatwoot")
    assert voxsig["payload_format"] == "voxsig"
    assert cw["payload_format"] == "chatwoot"
    return voxsig, cw


def test_a_chatwoot_webhook_gets_chatwoots_message_shapes(
    api: ApiClient, receiver: Receiver
) -> None:
    pair(api, receiver, ["message_created"])
    setup = new_conversation(api)
    post_message(api, setup.conversation_id, "Hello Bob", message_type="outgoing")
    got = receiver.wait_for(1, "/chatwoot")[0].json()
    same = receiver.wait_for(1, "/voxsig")[0].json()

    # The top level is Message#webhook_data: the enum's name, Rails' ISO time.
    assert got["message_type"] == "outgoing"
    assert isinstance(got["created_at"], str)
    assert Draft202012Validator({"pattern": ISO}).is_valid(got["created_at"])
    assert got["event"] == "message_created"
    assert got["sender"] == {
        "id": api.user_id,
        "name": same["sender"]["name"],
        "email": same["sender"]["email"],
        "type": "user",
    }
    for key in ("conversation_id", "inbox_id", "account_id", "status", "updated_at"):
        assert key not in got
    # Nested in conversation.messages[]: push_event_data, integer and unix.
    nested = got["conversation"]["messages"][0]
    assert nested["message_type"] == 1
    assert nested["created_at"] == same["created_at"]
    assert isinstance(nested["created_at"], int)
    assert nested["conversation_id"] == setup.conversation_id
    assert nested["sender_type"] == "User"
    assert nested["sender"]["available_name"] == same["sender"]["name"]
    assert (
        nested["conversation"]["contact_inbox"]["source_id"]
        == (same["conversation"]["contact_inbox"]["source_id"])
    )
    conversation = got["conversation"]
    assert conversation["id"] == setup.conversation_id
    assert conversation["meta"]["team"] is None
    assert conversation["meta"]["sender"]["type"] == "contact"
    assert "account" not in conversation["meta"]["sender"]
    assert isinstance(conversation["updated_at"], float)
    assert "account_id" not in conversation
    # Every field, as views.formats derives it from the voxsig body of the same event.
    assert got == chatwoot("message_created", same)
    # And the voxsig endpoint got the seed's shapes.
    assert same["message_type"] == 1
    assert isinstance(same["created_at"], int)
    assert same["conversation"]["messages"][0]["message_type"] == 1


def test_one_event_arrives_in_both_shapes_for_every_conversation_event(
    api: ApiClient, receiver: Receiver
) -> None:
    events = ["conversation_created", "conversation_updated", "conversation_status_changed"]
    pair(api, receiver, events)
    setup = new_conversation(api)
    api.post(f"conversations/{setup.conversation_id}/toggle_status", json={"status": "resolved"})
    api.post(
        f"conversations/{setup.conversation_id}/assignments", json={"assignee_id": api.user_id}
    )
    voxsig = receiver.wait_for(4, "/voxsig")
    cw = receiver.wait_for(4, "/chatwoot")
    assert [r.json()["event"] for r in cw] == [r.json()["event"] for r in voxsig]
    for mine, theirs in zip(voxsig, cw, strict=True):
        assert theirs.json() == chatwoot(mine.json()["event"], mine.json())
        assert theirs.headers["webhook-id"] != mine.headers["webhook-id"]
    status = by_event(cw, "conversation_status_changed")[0]
    assert status["changed_attributes"] == [
        {"status": {"previous_value": "open", "current_value": "resolved"}}
    ]
    assert list(status)[-2:] == ["event", "changed_attributes"]
    assert status["waiting_since"] == 0
    assert status["first_reply_created_at"] is None
    created = by_event(cw, "conversation_created")[0]
    assert created["contact_inbox"]["source_id"]
    assert created["messages"] == []


def test_a_retry_and_a_redelivery_send_the_same_chatwoot_bytes(
    api: ApiClient, receiver: Receiver
) -> None:
    webhook = subscribe(api, receiver, "/cw-retry", ["message_created"], payload_format="chatwoot")
    receiver.respond("/cw-retry", 500)
    setup = new_conversation(api)
    post_message(api, setup.conversation_id, "again and again")
    first, retried = receiver.wait_for(2, "/cw-retry", timeout=20)
    delivery = only_delivery(api, webhook["id"])
    wait_for_settled(api, webhook["id"], delivery["id"], "succeeded", 2, timeout=10)
    ok(api.post(f"webhooks/{webhook['id']}/deliveries/{delivery['id']}/redeliver"))
    redelivered = receiver.wait_for(3, "/cw-retry", timeout=20)[2]
    assert first.body == retried.body == redelivered.body
    assert json.loads(first.body)["message_type"] == "outgoing"
    assert {r.headers["webhook-id"] for r in (first, retried, redelivered)} == {
        delivery["message_id"]
    }
    detail = ok(api.get(f"webhooks/{webhook['id']}/deliveries/{delivery['id']}"))["payload"]
    assert detail["request_body"].encode() == first.body


def test_an_unknown_payload_format_is_refused_naming_the_field(
    api: ApiClient, receiver: Receiver
) -> None:
    body = {"url": receiver.url("/x"), "subscriptions": ["message_created"]}
    refused = api.post("webhooks", json={**body, "payload_format": "bogus"})
    assert refused.status_code == 422, refused.text
    assert "payload_format" in [e["field"] for e in refused.json()["errors"]]
    webhook = ok(api.post("webhooks", json=body))["payload"]["webhook"]
    assert webhook["payload_format"] == "voxsig"
    refused = api.patch(f"webhooks/{webhook['id']}", json={"payload_format": "bogus"})
    assert refused.status_code == 422, refused.text
    assert "payload_format" in [e["field"] for e in refused.json()["errors"]]
    switched = ok(api.patch(f"webhooks/{webhook['id']}", json={"payload_format": "chatwoot"}))
    assert switched["payload"]["webhook"]["payload_format"] == "chatwoot"


def test_a_webhook_switched_to_chatwoot_sends_chatwoot_from_then_on(
    api: ApiClient, receiver: Receiver
) -> None:
    webhook = subscribe(api, receiver, "/switch-v", ["message_created"])
    setup = new_conversation(api)
    post_message(api, setup.conversation_id, "before")
    assert receiver.wait_for(1, "/switch-v")[0].json()["message_type"] == 1
    ok(api.patch(f"webhooks/{webhook['id']}", json={"payload_format": "chatwoot"}))
    receiver.expect_format("/switch-c", "chatwoot", api.url)
    ok(api.patch(f"webhooks/{webhook['id']}", json={"url": receiver.url("/switch-c")}))
    post_message(api, setup.conversation_id, "after")
    after = receiver.wait_for(1, "/switch-c")[0].json()
    assert after["message_type"] == "outgoing"
    assert after["conversation"]["messages"][0]["message_type"] == 1


def test_webhook_events_lists_every_event_with_both_schemas_without_a_token(
    backend: Backend, api: ApiClient
) -> None:
    answer = httpx.get(f"{backend.url}/api/v1/webhook_events", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    listed: list[dict[str, Any]] = answer.json()["payload"]
    assert [e["name"] for e in listed] == list(ALL)
    for event in listed:
        assert set(event) == {"name", "description", "schemas"}
        assert event["description"] == DESCRIPTIONS[event["name"]]
        assert set(event["schemas"]) == {"voxsig", "chatwoot"}
        for fmt, schema in event["schemas"].items():
            Draft202012Validator.check_schema(schema)
            assert schema == SCHEMAS[event["name"]][fmt]  # the package's, served as is
            assert schema["additionalProperties"] is False
    # With a token it is the same document.
    assert api.get("/api/v1/webhook_events").json() == answer.json()


def test_webhook_events_is_in_the_openapi_document(openapi: dict[str, Any]) -> None:
    operation = openapi["paths"]["/api/v1/webhook_events"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/WebhookEventList"}
    event = openapi["components"]["schemas"]["WebhookEvent"]
    assert set(event["properties"]) == {"name", "description", "schemas"}
    assert event["additionalProperties"] is False


def test_the_served_schemas_catch_a_wrong_shape(
    api: ApiClient, receiver: Receiver, backend: Backend
) -> None:
    """The receiver's check can fail: a voxsig body is not a chatwoot one, nor the reverse."""
    pair(api, receiver, ["message_created"])
    setup = new_conversation(api)
    post_message(api, setup.conversation_id, "check me")
    voxsig = receiver.wait_for(1, "/voxsig")[0].json()
    cw = receiver.wait_for(1, "/chatwoot")[0].json()
    assert problems(voxsig, "voxsig", backend.url) == []
    assert problems(cw, "chatwoot", backend.url) == []
    assert problems(voxsig, "chatwoot", backend.url) != []
    assert problems(cw, "voxsig", backend.url) != []
    assert problems({**cw, "extra": 1}, "chatwoot", backend.url) != []
