"""The Widget API calls behind Chatwoot's `$chatwoot` methods that Voxsig did not have, over
HTTP as the widget page makes them: deleteCustomAttribute (contact/destroy_custom_attributes),
setConversationCustomAttributes / deleteConversationCustomAttribute
(conversations/set_custom_attributes, destroy_custom_attributes), setLabel / removeLabel
(labels, labels/{label})."""

from __future__ import annotations

from tests.conftest import Backend
from tests.support.client import JSON, ApiClient, ok
from tests.support.factories import activity_of, api_inbox, new_conversation
from tests.support.widget import WidgetVisitor, visit


def conversation_of(api: ApiClient, visitor: WidgetVisitor) -> JSON:
    number = visitor.messages()["conversation"]["id"]
    conversation: JSON = ok(api.get(f"conversations/{number}"))
    return conversation


def test_delete_custom_attribute_removes_only_that_name(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    visitor.ok("PATCH", "contact", json={"custom_attributes": {"plan": "pro", "seats": 3}})
    answer = visitor.ok(
        "POST", "contact/destroy_custom_attributes", json={"custom_attributes": ["plan"]}
    )
    assert answer["id"] == visitor.config["contact"]["id"]  # the visitor's contact (widget JSON)
    contact_id = visitor.config["contact"]["id"]
    assert ok(api.get(f"contacts/{contact_id}"))["payload"]["custom_attributes"] == {"seats": 3}
    # a bare name is a list of one; a name it lacks changes nothing
    visitor.ok("POST", "contact/destroy_custom_attributes", json={"custom_attributes": "nope"})
    visitor.ok("POST", "contact/destroy_custom_attributes", json={"custom_attributes": "seats"})
    assert ok(api.get(f"contacts/{contact_id}"))["payload"]["custom_attributes"] == {}
    refused = visitor.request("POST", "contact/destroy_custom_attributes", json={})
    assert refused.status_code == 422, refused.text
    empty = visitor.request(
        "POST", "contact/destroy_custom_attributes", json={"custom_attributes": []}
    )
    assert empty.status_code == 422, empty.text


def test_conversation_custom_attributes_are_set_and_deleted(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    body = {"custom_attributes": {"order": "A-1"}}
    early = visitor.request("POST", "conversations/set_custom_attributes", json=body)
    assert early.status_code == 404, early.text  # no conversation yet, as in Chatwoot
    visitor.say("Where is my order?")
    answer = visitor.ok("POST", "conversations/set_custom_attributes", json=body)
    assert answer["id"] == visitor.messages()["conversation"]["id"]
    assert conversation_of(api, visitor)["custom_attributes"] == {"order": "A-1"}
    # They replace what was there, as Chatwoot's update!(custom_attributes: …) does.
    replaced = {"custom_attributes": {"cart": 3, "coupon": "SPRING"}}
    visitor.ok("POST", "conversations/set_custom_attributes", json=replaced)
    assert conversation_of(api, visitor)["custom_attributes"] == {"cart": 3, "coupon": "SPRING"}
    visitor.ok(
        "POST", "conversations/destroy_custom_attributes", json={"custom_attribute": ["cart"]}
    )
    assert conversation_of(api, visitor)["custom_attributes"] == {"coupon": "SPRING"}
    missing = visitor.request("POST", "conversations/destroy_custom_attributes", json={})
    assert missing.status_code == 422, missing.text


def test_labels_in_use_are_added_and_removed_and_others_are_not(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    elsewhere = new_conversation(api, api_inbox(api)["id"])
    ok(api.post(f"conversations/{elsewhere.conversation_id}/labels", json={"labels": ["vip"]}))
    visitor = visit(backend, inbox, visitors)
    before = visitor.request("POST", "labels", json={"label": "vip"})
    assert before.status_code == 204, before.text  # no conversation: nothing to do
    visitor.say("Hello")
    number = visitor.messages()["conversation"]["id"]
    for label in ("VIP", "made-up"):  # "made-up" is no label of this account
        response = visitor.request("POST", "labels", json={"label": label})
        assert response.status_code == 204, response.text
    assert ok(api.get(f"conversations/{number}/labels"))["payload"] == ["vip"]
    assert any("added vip" in line for line in activity_of(api, number))
    assert visitor.request("DELETE", "labels/made-up").status_code == 204
    assert visitor.request("DELETE", "labels/vip").status_code == 204
    assert ok(api.get(f"conversations/{number}/labels"))["payload"] == []
    # The other conversation keeps its label; bad labels are refused.
    assert ok(api.get(f"conversations/{elsewhere.conversation_id}/labels"))["payload"] == ["vip"]
    assert visitor.request("POST", "labels", json={"label": "two words"}).status_code == 422
    assert visitor.request("DELETE", "labels/two%20words").status_code == 422


def test_the_calls_need_the_visitor_token(backend: Backend, inbox: JSON) -> None:
    stranger = WidgetVisitor(backend.url, inbox["website_token"])
    try:
        for method, path, body in (
            ("POST", "contact/destroy_custom_attributes", {"custom_attributes": ["a"]}),
            ("POST", "conversations/set_custom_attributes", {"custom_attributes": {"a": 1}}),
            ("POST", "conversations/destroy_custom_attributes", {"custom_attribute": ["a"]}),
            ("POST", "labels", {"label": "vip"}),
            ("DELETE", "labels/vip", None),
        ):
            response = stranger.request(method, path, json=body)
            assert response.status_code == 401, (path, response.text)
    finally:
        stranger.close()
