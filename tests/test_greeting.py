"""The inbox's greeting (issue 14, point 4) is a real message: created when a contact starts a
conversation (the widget, the public client API), right after conversation_created and before
the contact's first message, published as message_created, in the agents' thread and in the
contact's history once. Over HTTP, with a real receiver on 127.0.0.1."""

from __future__ import annotations

from typing import Any

from tests.conftest import Backend
from tests.support.client import JSON, ApiClient, ok
from tests.support.dashboard import logged_in
from tests.support.factories import (
    Setup,
    api_inbox,
    create_conversation,
    messages_of,
    new_contact,
    settle,
    subscribe,
    widget_inbox,
)
from tests.support.receiver import Received, Receiver
from tests.support.webhook_schema import validate_event
from tests.support.widget import PublicContact, WidgetVisitor, visit

TEMPLATE = 3
GREETING = "Hi! We usually answer within a few minutes. What can we do for you?"


def greeting_inbox(api: ApiClient, inbox: JSON, enabled: bool = True, text: str = GREETING) -> JSON:
    changed: JSON = ok(
        api.patch(
            f"inboxes/{inbox['id']}",
            json={"greeting_enabled": enabled, "greeting_message": text},
        )
    )
    assert (changed["greeting_enabled"], changed["greeting_message"]) == (enabled, text.strip())
    return changed


def delivered(
    receiver: Receiver, api: ApiClient, inbox_id: int, conversation_id: int
) -> list[JSON]:
    """Every event of the conversation so far, in the order they arrived (one conversation's
    deliveries go out one at a time, in order), proven complete by a sentinel."""
    got: list[Received] = settle(receiver, api, Setup(inbox_id, 0, conversation_id), "/g", 0)
    for request in got:
        validate_event(request.json())
    return [r.json() for r in got]


def written(messages: list[JSON]) -> list[tuple[int, str]]:
    """(message_type, content) of each message, without the sentinels `delivered` posted."""
    return [
        (m["message_type"], m["content"])
        for m in messages
        if not m["content"].startswith("sentinel-")
    ]


def described(events: list[JSON]) -> list[tuple[str, Any]]:
    """(event, what it is about): the message_type and content of a message event."""
    return [
        (e["event"], (e["message_type"], e["content"]) if "message_type" in e else None)
        for e in events
    ]


def test_a_widget_conversation_starts_with_the_greeting_everywhere(
    api: ApiClient, backend: Backend, receiver: Receiver, visitors: list[WidgetVisitor]
) -> None:
    inbox = greeting_inbox(api, widget_inbox(api))
    subscribe(api, receiver, "/g", inbox_id=inbox["id"])
    visitor = visit(backend, inbox, visitors)
    first = visitor.say("Hello, my parcel is late")
    number = first["conversation_id"]

    events = delivered(receiver, api, inbox["id"], number)
    assert described(events) == [
        ("conversation_created", None),
        ("message_created", (TEMPLATE, GREETING)),
        ("message_created", (0, "Hello, my parcel is late")),
    ]
    created, greeting = events[0], events[1]
    assert created["messages"] == []  # the greeting comes after conversation_created
    assert greeting["sender"] is None  # nobody wrote it (Chatwoot's template message)
    assert (greeting["content_type"], greeting["private"]) == ("text", False)
    assert greeting["content_attributes"] == {}
    assert greeting["conversation"]["id"] == number
    assert greeting["conversation"]["messages"][0]["id"] == greeting["id"]
    assert greeting["inbox"]["id"] == inbox["id"]

    # The agents' API: the greeting first, then the visitor.
    listed = messages_of(api, number)
    assert written(listed) == [
        (TEMPLATE, GREETING),
        (0, "Hello, my parcel is late"),
    ]
    assert listed[0]["id"] == greeting["id"]
    assert listed[0]["sender"] is None
    # It is not unread: only the contact's messages count.
    assert ok(api.get(f"conversations/{number}"))["unread_count"] == 1

    # The visitor's history shows it once, before their own message.
    history = visitor.messages()["payload"]
    assert written(history) == [
        (TEMPLATE, GREETING),
        (0, "Hello, my parcel is late"),
    ]
    assert history[0]["sender"] is None

    # The agent's thread in the dashboard shows it too.
    dashboard = logged_in(api)
    try:
        thread = dashboard.page(f"/app/conversations/{number}")
    finally:
        dashboard.close()
    assert thread.count(GREETING) == 1

    # The next message of the visitor is in the same conversation: no second greeting.
    visitor.say("Order 1234")
    assert [t for t, _ in written(messages_of(api, number))] == [TEMPLATE, 0, 0]


def test_no_greeting_when_it_is_disabled_or_empty(
    api: ApiClient, backend: Backend, receiver: Receiver, visitors: list[WidgetVisitor]
) -> None:
    disabled = greeting_inbox(api, widget_inbox(api, "Shop"), enabled=False)
    blank = greeting_inbox(api, widget_inbox(api, "Blog"), enabled=True, text="  ")
    subscribe(api, receiver, "/g")
    for inbox in (disabled, blank):
        visitor = visit(backend, inbox, visitors)
        number = visitor.say("Anyone there?")["conversation_id"]
        assert [m["message_type"] for m in messages_of(api, number)] == [0]
        assert [m["content"] for m in visitor.messages()["payload"]] == ["Anyone there?"]
    events = delivered(receiver, api, blank["id"], number)
    assert sorted(described(events), key=str) == sorted(
        [("conversation_created", None), ("message_created", (0, "Anyone there?"))] * 2, key=str
    )


def test_a_conversation_the_widget_starts_explicitly_is_greeted_before_its_first_message(
    api: ApiClient, backend: Backend, receiver: Receiver, visitors: list[WidgetVisitor]
) -> None:
    inbox = greeting_inbox(api, widget_inbox(api))
    subscribe(api, receiver, "/g", inbox_id=inbox["id"])
    visitor = visit(backend, inbox, visitors)
    started = visitor.ok("POST", "conversations", json={"content": "Do you ship to Norway?"})
    assert [(m["message_type"], m["content"]) for m in started["messages"]] == [
        (TEMPLATE, GREETING),
        (0, "Do you ship to Norway?"),
    ]
    events = delivered(receiver, api, inbox["id"], started["id"])
    assert described(events) == [
        ("conversation_created", None),
        ("message_created", (TEMPLATE, GREETING)),
        ("message_created", (0, "Do you ship to Norway?")),
    ]


def test_the_public_client_api_greets_the_conversations_its_contacts_start(
    api: ApiClient, backend: Backend, receiver: Receiver, closing: list[Any]
) -> None:
    inbox = greeting_inbox(api, api_inbox(api))
    subscribe(api, receiver, "/g", inbox_id=inbox["id"])
    contact = PublicContact(backend.url, inbox["inbox_identifier"])
    closing.append(contact)
    contact.create(name="Pat")
    conversation = contact.ok("POST", "/conversations", json={})
    assert [(m["message_type"], m["content"]) for m in conversation["messages"]] == [
        (TEMPLATE, GREETING)
    ]
    path = f"/conversations/{conversation['id']}/messages"
    contact.ok("POST", path, json={"content": "Hi"})
    assert written(contact.ok("GET", path)) == [(TEMPLATE, GREETING), (0, "Hi")]
    events = delivered(receiver, api, inbox["id"], conversation["id"])
    assert described(events) == [
        ("conversation_created", None),
        ("message_created", (TEMPLATE, GREETING)),
        ("message_created", (0, "Hi")),
    ]


def test_conversations_agents_start_through_the_rest_api_are_not_greeted(
    api: ApiClient, receiver: Receiver
) -> None:
    """An agent (or an integration) that opens a conversation writes first itself: a greeting
    from the business would come after nobody asked."""
    inbox = greeting_inbox(api, api_inbox(api))
    contact = new_contact(api, inbox["id"], name="Bob")["contact"]
    number = create_conversation(api, inbox["id"], contact["id"])["id"]
    assert messages_of(api, number) == []
