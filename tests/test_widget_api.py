"""The Widget API over HTTP, as the widget page calls it: visitors, their messages and
conversations, and webwidget_triggered. Identity verification, the live stream, rate limits and
the files a website loads are in the other test_widget_*.py files."""

from __future__ import annotations

import json
import time
import uuid

from tests.conftest import Backend
from tests.support.client import JSON, ApiClient
from tests.support.factories import by_event, post_message, subscribe, widget_inbox
from tests.support.receiver import Receiver
from tests.support.webhook_schema import validate_event
from tests.support.widget import WidgetVisitor, visit
from voxsig.widget.browser import browser_info

CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0.0.0 Safari/537.36"
)


# -- visitors -----------------------------------------------------------------------------------


def test_config_starts_a_visitor_and_resumes_it(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    config = visitor.config["website_channel_config"]
    assert config["website_token"] == inbox["website_token"]
    assert (config["widget_color"], config["welcome_title"]) == ("#0b7a75", "Hi there")
    assert "hmac_token" not in json.dumps(visitor.config)
    contact = visitor.config["contact"]
    assert str(uuid.UUID(contact["source_id"])) == contact["source_id"]  # a fresh UUID
    assert contact["hmac_verified"] is False
    again = visitor.ok("POST", "config")
    assert again["contact"]["id"] == contact["id"]
    assert again["contact"]["source_id"] == contact["source_id"]
    shown = visitor.ok("GET", "contact")
    assert (shown["id"], shown["source_id"]) == (contact["id"], contact["source_id"])
    agent_view = api.get(f"contacts/{contact['id']}").json()["payload"]
    assert [ci["source_id"] for ci in agent_view["contact_inboxes"]] == [contact["source_id"]]
    other = visit(backend, inbox, visitors)
    assert other.config["contact"]["id"] != contact["id"]


def test_a_visitor_token_is_refused_elsewhere_and_bad_tokens_are_401(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    second_inbox = widget_inbox(api)
    stranger = WidgetVisitor(backend.url, second_inbox["website_token"], visitor.token)
    visitors.append(stranger)
    for method, path in (("GET", "contact"), ("GET", "messages"), ("POST", "config")):
        refused = stranger.request(method, path)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] == "unauthorized"
    tampered = visitor.token[:-2] + ("AA" if not visitor.token.endswith("AA") else "BB")
    assert visitor.request("GET", "contact", headers={"X-Auth-Token": tampered}).status_code == 401
    anonymous = WidgetVisitor(backend.url, inbox["website_token"])
    visitors.append(anonymous)
    assert anonymous.request("GET", "messages").status_code == 401
    api_inbox = api.post("inboxes", json={"name": "API", "channel": {"type": "api"}}).json()
    for website_token in ("no-such-token", api_inbox["inbox_identifier"]):
        missing = WidgetVisitor(backend.url, website_token).request("POST", "config")
        assert missing.status_code == 404, missing.text
        assert missing.json()["errors"][0]["field"] == "website_token"


def test_a_deleted_visitor_gets_a_new_identity_on_config(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    assert api.delete(f"contacts/{visitor.config['contact']['id']}").status_code == 200
    assert visitor.request("GET", "contact").status_code == 401
    renewed = visitor.ok("POST", "config")
    # Row ids may be reused (SQLite): the token names the source_id too, which never is.
    assert renewed["contact"]["source_id"] != visitor.config["contact"]["source_id"]
    visitor.token = renewed["auth_token"]
    assert visitor.ok("GET", "contact")["source_id"] == renewed["contact"]["source_id"]


# -- messages and conversations -------------------------------------------------------------------


def test_the_first_message_starts_a_conversation_with_the_browser_details(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor], receiver: Receiver
) -> None:
    subscribe(api, receiver, "/w")
    visitor = visit(backend, inbox, visitors)
    assert visitor.messages() == {"conversation": None, "payload": []}
    headers = {"User-Agent": CHROME_LINUX, "Accept-Language": "de-CH,de;q=0.9,en;q=0.8"}
    first = visitor.ok(
        "POST",
        "messages",
        json={"content": "Hello?", "echo_id": "e1", "referer": "https://shop.example/pricing"},
        headers=headers,
    )
    assert (first["content"], first["message_type"], first["echo_id"]) == ("Hello?", 0, "e1")
    assert first["sender"] == {
        "id": visitor.config["contact"]["id"],
        "name": visitor.config["contact"]["name"],
        "type": "contact",
    }
    second = visitor.say("Anyone there?")
    assert second["conversation_id"] == first["conversation_id"]
    got = receiver.wait_for(3, "/w")
    for request in got:
        validate_event(request.json())
    (created,) = by_event(got, "conversation_created")
    attributes = created["additional_attributes"]
    assert attributes["browser"] == {
        "browser_name": "Chrome",
        "browser_version": "140.0.0",
        "device_name": "Unknown",
        "platform_name": "Linux",
        "platform_version": "",
    }
    assert attributes["referer"] == "https://shop.example/pricing"
    assert attributes["browser_language"] == "de"
    assert attributes["initiated_at"]["timestamp"].endswith("Z")
    assert created["channel"] == "Channel::WebWidget"
    assert created["contact_inbox"]["source_id"] == visitor.config["contact"]["source_id"]
    message = by_event(got, "message_created")[0]
    assert (message["message_type"], message["sender"]["type"]) == (0, "contact")
    agent_view = api.get(f"conversations/{first['conversation_id']}").json()
    assert agent_view["additional_attributes"] == attributes


def test_visitors_see_their_messages_but_no_private_notes(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    conversation_id = visitor.say("My order is late")["conversation_id"]
    post_message(api, conversation_id, "Customer seems upset", private=True)
    reply = post_message(api, conversation_id, "Sorry! Let me check.")
    listed = visitor.messages()
    assert [m["content"] for m in listed["payload"]] == ["My order is late", "Sorry! Let me check."]
    assert listed["conversation"]["id"] == conversation_id
    assert listed["payload"][1]["sender"]["type"] == "user"
    assert "email" not in listed["payload"][1]["sender"]
    after = visitor.ok("GET", "messages", params={"after": reply["id"] - 1})["payload"]
    assert [m["id"] for m in after] == [reply["id"]]
    before = visitor.ok("GET", "messages", params={"before": reply["id"]})["payload"]
    assert [m["content"] for m in before] == ["My order is late"]


def test_one_visitor_cannot_reach_another_visitors_messages(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    alice, bob = visit(backend, inbox, visitors), visit(backend, inbox, visitors)
    secret = alice.say("my address is 1 Main St")
    question = post_message(
        api,
        secret["conversation_id"],
        "Which size?",
        content_type="input_select",
        content_attributes={"items": [{"title": "S", "value": "s"}]},
    )
    assert bob.messages() == {"conversation": None, "payload": []}
    assert bob.ok("GET", "conversations") == []
    stolen = bob.request(
        "PATCH", f"messages/{question['id']}", json={"submitted_values": [{"value": "s"}]}
    )
    assert stolen.status_code == 404, stolen.text
    bob.say("hi")
    assert [m["content"] for m in bob.messages()["payload"]] == ["hi"]
    assert [m["content"] for m in alice.messages()["payload"]] == [
        "my address is 1 Main St",
        "Which size?",
    ]


def test_answers_to_questions_fire_message_updated(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor], receiver: Receiver
) -> None:
    visitor = visit(backend, inbox, visitors)
    conversation_id = visitor.say("I need help choosing")["conversation_id"]
    subscribe(api, receiver, "/u", ["message_updated"])
    question = post_message(
        api,
        conversation_id,
        "Which plan?",
        content_type="input_select",
        content_attributes={"items": [{"title": "Basic", "value": "basic"}]},
    )
    note = post_message(api, conversation_id, "internal", private=True)
    answer = [{"title": "Basic", "value": "basic"}]
    updated = visitor.ok("PATCH", f"messages/{question['id']}", json={"submitted_values": answer})
    assert updated["content_attributes"]["submitted_values"] == answer
    assert updated["content_attributes"]["items"] == [{"title": "Basic", "value": "basic"}]
    event = receiver.wait_for(1, "/u")[0].json()
    validate_event(event)
    assert event["id"] == question["id"]
    assert event["content_attributes"]["submitted_values"] == answer
    hidden = visitor.request(
        "PATCH", f"messages/{note['id']}", json={"submitted_values": [{"value": "x"}]}
    )
    assert hidden.status_code == 404
    assert visitor.request("PATCH", f"messages/{question['id']}", json={}).status_code == 422


def test_reading_updates_contact_last_seen_at(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    assert visitor.request("POST", "conversations/update_last_seen").status_code == 200
    conversation_id = visitor.say("hello")["conversation_id"]
    assert api.get(f"conversations/{conversation_id}").json()["contact_last_seen_at"] == 0
    assert visitor.request("POST", "conversations/update_last_seen").status_code == 200
    seen = api.get(f"conversations/{conversation_id}").json()["contact_last_seen_at"]
    assert abs(seen - time.time()) < 60


def test_conversations_list_and_a_new_conversation(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor], receiver: Receiver
) -> None:
    visitor = visit(backend, inbox, visitors)
    first = visitor.say("first")["conversation_id"]
    api.post(f"conversations/{first}/toggle_status", json={"status": "resolved"})
    subscribe(api, receiver, "/c", ["conversation_created"])
    created = visitor.ok(
        "POST",
        "conversations",
        json={"content": "a new question", "custom_attributes": {"plan": "pro"}, "referer": "r"},
    )
    assert created["id"] != first
    assert [m["content"] for m in created["messages"]] == ["a new question"]
    event = receiver.wait_for(1, "/c")[0].json()
    validate_event(event)
    assert event["custom_attributes"] == {"plan": "pro"}
    assert event["additional_attributes"]["referer"] == "r"
    listed = visitor.ok("GET", "conversations")
    assert [(c["id"], c["status"]) for c in listed] == [
        (created["id"], "open"),
        (first, "resolved"),
    ]
    assert [m["content"] for m in visitor.messages()["payload"]] == ["a new question"]


def test_bad_input_is_a_clear_4xx(
    backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    cases = [
        ("POST", "messages", {"json": {"content": ""}}, 422, "content"),
        ("POST", "messages", {"json": {"content": "x", "referer": "r" * 3000}}, 422, "referer"),
        ("POST", "events", {"json": {"name": "webwidget.closed"}}, 422, "name"),
        (
            "POST",
            "events",
            {"json": {"name": "webwidget.triggered"}, "params": {"locale": "<script>"}},
            422,
            "locale",
        ),
        ("PATCH", "contact", {"json": {"email": "not-an-email"}}, 422, "email"),
        ("PATCH", "contact/set_user", {"json": {"name": "x"}}, 422, "identifier"),
        ("PATCH", "messages/99999999", {"json": {"submitted_values": {}}}, 404, "message_id"),
    ]
    for method, path, kwargs, status, field in cases:
        response = visitor.request(method, path, **kwargs)
        assert response.status_code == status, (path, response.text)
        body = response.json()
        assert body["errors"][0]["field"] == field, (path, body)
    malformed = visitor.request(
        "POST", "messages", content=b"{", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400


# -- webwidget_triggered ------------------------------------------------------------------------


def test_opening_the_widget_fires_webwidget_triggered(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor], receiver: Receiver
) -> None:
    subscribe(api, receiver, "/t", ["webwidget_triggered"])
    visitor = visit(backend, inbox, visitors)
    opened = "Wed Nov 25 2026 14:40:00 GMT+0100 (Central European Standard Time)"
    body = {
        "name": "webwidget.triggered",
        "event_info": {"initiated_at": {"timestamp": opened}, "referer": "https://shop.example/"},
    }
    headers = {"User-Agent": CHROME_LINUX, "Accept-Language": "fr-FR,fr;q=0.9"}
    response = visitor.request(
        "POST", "events", json=body, params={"locale": "de"}, headers=headers
    )
    assert (response.status_code, response.content) == (204, b"")
    event = receiver.wait_for(1, "/t")[0].json()
    validate_event(event)
    assert event["event_info"] == {
        "initiated_at": {"timestamp": opened},
        "referer": "https://shop.example/",
        "widget_language": "de",
        "browser_language": "fr",
        "browser": browser_info(CHROME_LINUX),
    }
    assert event["source_id"] == visitor.config["contact"]["source_id"]
    assert event["contact"]["id"] == visitor.config["contact"]["id"]
    assert event["current_conversation"] is None
    conversation_id = visitor.say("hi")["conversation_id"]
    visitor.ok("POST", "events", json=body)
    second = receiver.wait_for(2, "/t")[1].json()
    validate_event(second)
    assert second["current_conversation"]["id"] == conversation_id
