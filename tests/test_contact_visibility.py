"""What a contact sees (issue 11, finding 3): after agents label, prioritise, assign, write a
private note, resolve and reopen, the contact's views (widget history on every page, the live
stream, the public client API's messages and conversation objects) hold none of it: no activity
line, no private note. Only the conversation's status tells them it was resolved."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Backend
from tests.support.client import ApiClient, ok
from tests.support.factories import post_message, widget_inbox
from tests.support.widget import LiveStream, WidgetVisitor

JSON = dict[str, Any]
ACTIVITY = 2
NOTE = "INTERNAL-NOTE refund approved by finance"
PAGE_SIZE = 50  # the widget's page of history


def internal_work(api: ApiClient, cid: int) -> None:
    """Everything agents do that leaves activity lines or notes in the conversation."""
    internal_notes(api, cid)
    ok(api.post(f"conversations/{cid}/toggle_status", json={"status": "resolved"}))
    ok(api.post(f"conversations/{cid}/toggle_status", json={"status": "open"}))


def internal_notes(api: ApiClient, cid: int) -> None:
    ok(api.post(f"conversations/{cid}/labels", json={"labels": ["billing", "refund"]}))
    ok(api.post(f"conversations/{cid}/toggle_priority", json={"priority": "urgent"}))
    ok(api.post(f"conversations/{cid}/assignments", json={"assignee_id": api.user_id}))
    post_message(api, cid, NOTE, private=True)


def agents_see_activity(api: ApiClient, cid: int) -> None:
    """The agents' view keeps all of it: the test did produce what must stay hidden."""
    listed = ok(api.get(f"conversations/{cid}/messages"))["payload"]
    lines = [m["content"] for m in listed if m["message_type"] == ACTIVITY]
    assert "Ada Admin added billing, refund" in lines
    assert "Ada Admin set the priority to urgent" in lines
    assert "Conversation was resolved by Ada Admin" in lines
    assert NOTE in [m["content"] for m in listed]


def assert_contact_view(messages: list[JSON]) -> None:
    text = str(messages)
    assert all(m.get("message_type") != ACTIVITY for m in messages), text
    for leaked in (NOTE, "billing", "urgent", "Assigned to", "Ada Admin added", "resolved by"):
        assert leaked not in text


@pytest.fixture
def visitor(backend: Backend, api: ApiClient) -> Iterator[WidgetVisitor]:
    inbox = widget_inbox(api)
    made = WidgetVisitor(backend.url, inbox["website_token"]).start()
    yield made
    made.close()


def test_the_widget_history_and_stream_show_no_internal_activity(
    api: ApiClient, visitor: WidgetVisitor
) -> None:
    cid = visitor.say("My invoice is wrong")["conversation_id"]
    stream = LiveStream(visitor)
    events: list[tuple[str, JSON]] = []

    def until(kind: str, key: str, value: Any) -> None:
        while not events or (events[-1][0], events[-1][1][key]) != (kind, value):
            events.append(stream.next())

    try:
        internal_notes(api, cid)
        ok(api.post(f"conversations/{cid}/toggle_status", json={"status": "resolved"}))
        until("conversation.updated", "status", "resolved")
        ok(api.post(f"conversations/{cid}/toggle_status", json={"status": "open"}))
        until("conversation.updated", "status", "open")
        sentinel = post_message(api, cid, "We have refunded you")
        until("message.created", "id", sentinel["id"])
    finally:
        stream.close()
    agents_see_activity(api, cid)
    # Labels, priority, assignment and the note sent nothing; the resolution and the
    # reopening only the conversation with its new status (each once), then the reply.
    assert [(kind, data.get("status")) for kind, data in events] == [
        ("conversation.updated", "resolved"),
        ("conversation.updated", "open"),
        ("message.created", None),
    ], events
    assert_contact_view([data for _, data in events])

    history = visitor.ok("GET", "messages")
    assert [m["content"] for m in history["payload"]] == [
        "My invoice is wrong",
        "We have refunded you",
    ]
    assert_contact_view(history["payload"])
    assert history["conversation"]["messages"] == []
    listed = visitor.ok("GET", "conversations")
    assert_contact_view([m for c in listed for m in c["messages"]])


def test_every_page_of_history_is_full_of_visible_messages(
    api: ApiClient, visitor: WidgetVisitor
) -> None:
    """Hidden messages are filtered in the query, not after the page was cut: pages stay full
    and paging backwards or forwards skips nothing."""
    first = visitor.say("hello")
    cid = first["conversation_id"]
    visible = [first["id"]]
    for n in range(PAGE_SIZE + 10):
        # An activity line and a note between every two replies: more hidden than visible.
        priority = "high" if n % 2 else "low"
        ok(api.post(f"conversations/{cid}/toggle_priority", json={"priority": priority}))
        post_message(api, cid, f"note {n}", private=True)
        visible.append(post_message(api, cid, f"reply {n}")["id"])

    latest = visitor.ok("GET", "messages")["payload"]
    assert [m["id"] for m in latest] == visible[-PAGE_SIZE:]
    older = visitor.ok("GET", "messages", params={"before": latest[0]["id"]})["payload"]
    assert [m["id"] for m in older] == visible[:-PAGE_SIZE]
    forward = visitor.ok("GET", "messages", params={"after": visible[0]})["payload"]
    assert [m["id"] for m in forward] == visible[1 : PAGE_SIZE + 1]
    rest = visitor.ok("GET", "messages", params={"after": forward[-1]["id"]})["payload"]
    assert [m["id"] for m in rest] == visible[PAGE_SIZE + 1 :]
    for page in (latest, older, forward, rest):
        assert_contact_view(page)


def test_a_widget_conversation_answer_shows_no_internal_activity(
    api: ApiClient, visitor: WidgetVisitor
) -> None:
    cid = visitor.say("first")["conversation_id"]
    internal_work(api, cid)
    ok(api.post(f"conversations/{cid}/toggle_status", json={"status": "resolved"}))
    started = visitor.ok("POST", "conversations", json={"content": "again"})
    assert [m["content"] for m in started["messages"]] == ["again"]
    # An activity line's id is no message of the visitor's to answer either.
    activity = [
        m
        for m in ok(api.get(f"conversations/{cid}/messages"))["payload"]
        if m["message_type"] == ACTIVITY
    ]
    answer = {"submitted_values": {"email": "a@b.co"}}
    refused = visitor.request("PATCH", f"messages/{activity[0]['id']}", json=answer)
    assert refused.status_code == 404, refused.text


# -- the public client API ---------------------------------------------------------------------


def test_the_public_client_api_shows_no_internal_activity(api: ApiClient) -> None:
    inbox = ok(api.post("inboxes", json={"name": "API", "channel": {"type": "api"}}))
    base = f"{api.url}/public/api/v1/inboxes/{inbox['inbox_identifier']}/contacts"
    with httpx.Client(timeout=30.0) as anon:
        contact = ok(anon.post(base, json={"name": "Pat"}))
        conversations = f"{base}/{contact['source_id']}/conversations"
        conversation = ok(anon.post(conversations, json={}))
        number = conversation["id"]
        path = f"{conversations}/{number}"
        ok(anon.post(f"{path}/messages", json={"content": "My invoice is wrong"}))
        internal_work(api, number)
        post_message(api, number, "We have refunded you")
        agents_see_activity(api, number)

        listed = ok(anon.get(f"{path}/messages"))
        assert [m["content"] for m in listed] == ["My invoice is wrong", "We have refunded you"]
        assert_contact_view(listed)
        shown = ok(anon.get(path))
        assert shown["status"] == "open"
        assert_contact_view(shown["messages"])
        assert_contact_view([m for c in ok(anon.get(conversations)) for m in c["messages"]])
        resolved = ok(anon.post(f"{path}/toggle_status"))
        assert resolved["status"] == "resolved"
        assert len(resolved["messages"]) == 2
        assert_contact_view(resolved["messages"])

        activity = [
            m
            for m in ok(api.get(f"conversations/{number}/messages"))["payload"]
            if m["message_type"] == ACTIVITY
        ]
        answer = {"submitted_values": {"email": "a@b.co"}}
        refused = anon.patch(f"{path}/messages/{activity[0]['id']}", json=answer)
        assert refused.status_code == 404, refused.text
