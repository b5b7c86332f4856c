"""The six webhook events, end to end: triggered over HTTP as users do, received by a real HTTP
server, checked against the spec's schema, signatures verified with `standardwebhooks`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from tests.conftest import Backend
from tests.support.client import ApiClient
from tests.support.factories import (
    Setup,
    api_inbox,
    by_event,
    events_of,
    new_conversation,
    settle,
    subscribe,
)
from tests.support.receiver import Receiver
from tests.support.webhook_schema import EVENTS, validate_event


def test_every_event_arrives_signed_and_matches_the_spec(
    api: ApiClient, receiver: Receiver, backend: Backend
) -> None:
    webhook = subscribe(api, receiver, "/all")
    setup = new_conversation(api)
    api.post(
        f"conversations/{setup.conversation_id}/messages",
        json={"content": "Hello Bob", "message_type": "outgoing"},
    )
    message_id = receiver.wait_for(2, "/all")[-1].json()["id"]
    api.patch(f"messages/{message_id}", json={"content": "Hello again, Bob"})
    api.post(f"conversations/{setup.conversation_id}/toggle_status", json={"status": "resolved"})
    trigger_webwidget(backend, setup)
    got = receiver.wait_for(6, "/all")
    assert sorted(set(events_of(got))) == sorted(EVENTS)
    verifier = Verifier(webhook["secret"])
    for request in got:
        validate_event(request.json())
        assert verifier.verify(request.body, request.headers) == request.json()
        assert request.headers["content-type"] == "application/json"
        assert "Voxsig" in request.headers["user-agent"]
        assert request.headers["webhook-id"].startswith("msg_")
    assert len({r.headers["webhook-id"] for r in got}) == len(got)


def trigger_webwidget(backend: Backend, setup: Setup) -> None:
    """The widget issue wires this to the widget; here the builder runs on a real contact_inbox
    in a committed transaction, and the server's worker delivers it."""
    from sqlalchemy import select

    from voxsig.db import Database
    from voxsig.events.emit import webwidget_triggered
    from voxsig.models import ContactInbox

    async def run() -> None:
        db = Database(backend.database_url)
        try:
            async with db.transaction() as session:
                link = await session.scalar(
                    select(ContactInbox).where(ContactInbox.contact_id == setup.contact_id)
                )
                assert link is not None
                await webwidget_triggered(
                    session,
                    link,
                    {
                        "initiated_at": {"timestamp": "Wed Nov 25 2026 14:40:00 GMT+0100"},
                        "referer": "https://shop.example/pricing",
                        "widget_language": "de",
                        "browser_language": "de",
                        "browser": {
                            "browser_name": "Firefox",
                            "browser_version": "133.0",
                            "device_name": "Other",
                            "platform_name": "Linux",
                            "platform_version": "",
                        },
                    },
                )
        finally:
            await db.dispose()

    asyncio.run(run())


def test_webwidget_triggered_carries_the_contact_inbox_and_latest_conversation(
    api: ApiClient, receiver: Receiver, backend: Backend
) -> None:
    subscribe(api, receiver, "/widget", ["webwidget_triggered"])
    setup = new_conversation(api)
    trigger_webwidget(backend, setup)
    body = receiver.wait_for(1, "/widget")[0].json()
    validate_event(body)
    assert body["current_conversation"]["id"] == setup.conversation_id
    assert body["contact"]["id"] == setup.contact_id
    assert body["inbox"]["id"] == setup.inbox_id
    assert body["id"] == body["current_conversation"]["contact_inbox"]["id"]
    assert body["source_id"] == body["current_conversation"]["contact_inbox"]["source_id"]
    assert body["event_info"]["referer"] == "https://shop.example/pricing"


def test_an_endpoint_gets_only_the_events_it_subscribed_to(
    api: ApiClient, receiver: Receiver
) -> None:
    subscribe(api, receiver, "/all")
    subscribe(api, receiver, "/messages", ["message_created"])
    setup = new_conversation(api)
    api.post(f"conversations/{setup.conversation_id}/toggle_status", json={"status": "resolved"})
    settle(receiver, api, setup, "/all", since=0)
    assert events_of(receiver.requests("/messages")) == ["message_created"]
    assert {"conversation_created", "conversation_status_changed"} <= set(
        events_of(receiver.requests("/all"))
    )


def test_an_inbox_scoped_webhook_gets_only_its_inbox_events(
    api: ApiClient, receiver: Receiver
) -> None:
    first, second = api_inbox(api, "First")["id"], api_inbox(api, "Second")["id"]
    webhook = subscribe(api, receiver, "/scoped", inbox_id=first)
    assert webhook["inbox"] == {"id": first, "name": "First"}
    subscribe(api, receiver, "/all")
    in_second = new_conversation(api, second)
    in_first = new_conversation(api, first)
    settle(receiver, api, in_first, "/scoped", since=0)
    settle(receiver, api, in_second, "/all", since=0)
    scoped = [r.json() for r in receiver.requests("/scoped")]
    assert scoped, "the scoped webhook got nothing"
    assert {b.get("inbox_id", b.get("inbox", {}).get("id")) for b in scoped} == {first}
    assert any(r.json().get("inbox_id") == second for r in receiver.requests("/all"))


def test_message_created_shows_the_new_message_in_its_conversation_private_notes_too(
    api: ApiClient, receiver: Receiver
) -> None:
    subscribe(api, receiver, "/m", ["message_created"])
    setup = new_conversation(api)
    api.post(f"conversations/{setup.conversation_id}/messages", json={"content": "public"})
    api.post(
        f"conversations/{setup.conversation_id}/messages",
        json={"content": "note to self", "private": True},
    )
    got = [r.json() for r in receiver.wait_for(2, "/m")]
    note = next(b for b in got if b["content"] == "note to self")
    assert note["private"] is True
    assert note["message_type"] == 1
    assert note["sender"]["type"] == "user"
    assert [m["id"] for m in note["conversation"]["messages"]] == [note["id"]]
    assert "conversation" not in note["conversation"]["messages"][0]


def test_activity_messages_are_not_published_as_message_created(
    api: ApiClient, receiver: Receiver
) -> None:
    subscribe(api, receiver, "/m", ["message_created"])
    setup = new_conversation(api)
    api.post(f"conversations/{setup.conversation_id}/toggle_status", json={"status": "resolved"})
    api.post(
        f"conversations/{setup.conversation_id}/assignments", json={"assignee_id": api.user_id}
    )
    messages = api.get(f"conversations/{setup.conversation_id}/messages").json()["payload"]
    assert [m["message_type"] for m in messages] == [2, 2]  # both changes left activity lines
    assert settle(receiver, api, setup, "/m", since=0) == []


def changes_for(api: ApiClient, receiver: Receiver, action: Any) -> list[dict[str, Any]]:
    """Runs `action(setup)` on a fresh conversation; returns the conversation_updated bodies."""
    setup = new_conversation(api)
    start = len(receiver.requests("/u"))
    action(setup)
    arrived = settle(receiver, api, setup, "/u", since=start)
    return [r.json() for r in arrived if r.json()["event"] == "conversation_updated"]


@pytest.fixture
def updates(api: ApiClient, receiver: Receiver) -> Receiver:
    subscribe(api, receiver, "/u", ["conversation_updated", "message_created"])
    return receiver


def only_change(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert len(bodies) == 1, f"expected one conversation_updated, got {bodies}"
    changed: list[dict[str, Any]] = bodies[0]["changed_attributes"]
    return changed


def test_changed_attributes_for_an_assignment(api: ApiClient, updates: Receiver) -> None:
    bodies = changes_for(
        api,
        updates,
        lambda s: api.post(
            f"conversations/{s.conversation_id}/assignments", json={"assignee_id": api.user_id}
        ),
    )
    assert only_change(bodies) == [
        {"assignee_id": {"current_value": api.user_id, "previous_value": None}}
    ]
    assert bodies[0]["meta"]["assignee"]["id"] == api.user_id


def test_changed_attributes_for_a_status(api: ApiClient, updates: Receiver) -> None:
    bodies = changes_for(
        api,
        updates,
        lambda s: api.post(
            f"conversations/{s.conversation_id}/toggle_status", json={"status": "pending"}
        ),
    )
    assert only_change(bodies) == [
        {"status": {"current_value": "pending", "previous_value": "open"}}
    ]


def test_changed_attributes_for_a_priority(api: ApiClient, updates: Receiver) -> None:
    bodies = changes_for(
        api,
        updates,
        lambda s: api.post(
            f"conversations/{s.conversation_id}/toggle_priority", json={"priority": "urgent"}
        ),
    )
    assert only_change(bodies) == [
        {"priority": {"current_value": "urgent", "previous_value": None}}
    ]


def test_changed_attributes_for_labels(api: ApiClient, updates: Receiver) -> None:
    bodies = changes_for(
        api,
        updates,
        lambda s: api.post(
            f"conversations/{s.conversation_id}/labels", json={"labels": ["vip", "billing"]}
        ),
    )
    assert only_change(bodies) == [
        {"labels": {"current_value": ["billing", "vip"], "previous_value": []}}
    ]
    assert bodies[0]["labels"] == ["billing", "vip"]


def test_changed_attributes_for_custom_attributes(api: ApiClient, updates: Receiver) -> None:
    bodies = changes_for(
        api,
        updates,
        lambda s: api.patch(
            f"conversations/{s.conversation_id}", json={"custom_attributes": {"plan": "pro"}}
        ),
    )
    assert only_change(bodies) == [
        {"custom_attributes": {"current_value": {"plan": "pro"}, "previous_value": {}}}
    ]


def test_changed_attributes_together_in_one_event(api: ApiClient, updates: Receiver) -> None:
    bodies = changes_for(
        api,
        updates,
        lambda s: api.patch(
            f"conversations/{s.conversation_id}",
            json={
                "status": "resolved",
                "assignee_id": api.user_id,
                "priority": "high",
                "custom_attributes": {"plan": "pro"},
            },
        ),
    )
    changed = only_change(bodies)
    assert {next(iter(c)) for c in changed} == {
        "status",
        "assignee_id",
        "priority",
        "custom_attributes",
    }
    assert {"status": {"current_value": "resolved", "previous_value": "open"}} in changed
    assert "updated_at" not in str(changed)


def test_a_change_that_changes_nothing_fires_nothing(api: ApiClient, updates: Receiver) -> None:
    def no_ops(s: Setup) -> None:
        path = f"conversations/{s.conversation_id}"
        api.patch(path, json={"status": "open", "priority": None, "custom_attributes": {}})
        api.post(f"{path}/labels", json={"labels": []})
        api.post(f"{path}/assignments", json={"assignee_id": None})
        api.post(f"{path}/update_last_seen")

    assert changes_for(api, updates, no_ops) == []


def test_a_status_change_fires_status_changed_and_updated(
    api: ApiClient, receiver: Receiver
) -> None:
    subscribe(api, receiver, "/s", ["conversation_status_changed", "conversation_updated"])
    setup = new_conversation(api)
    api.post(f"conversations/{setup.conversation_id}/toggle_status", json={})
    got = receiver.wait_for(2, "/s")
    assert sorted(events_of(got)) == ["conversation_status_changed", "conversation_updated"]
    for body in (r.json() for r in got):
        assert body["status"] == "resolved"
        assert body["changed_attributes"] == [
            {"status": {"current_value": "resolved", "previous_value": "open"}}
        ]


def test_message_updated_on_edit_and_on_delete(api: ApiClient, receiver: Receiver) -> None:
    subscribe(api, receiver, "/mu", ["message_updated"])
    setup = new_conversation(api)
    created = api.post(
        f"conversations/{setup.conversation_id}/messages", json={"content": "typo"}
    ).json()
    api.patch(
        f"conversations/{setup.conversation_id}/messages/{created['id']}", json={"content": "fixed"}
    )
    api.delete(f"messages/{created['id']}")
    edited, deleted = (r.json() for r in receiver.wait_for(2, "/mu"))
    assert edited["content"] == "fixed"
    assert deleted["content_attributes"]["deleted"] is True
    assert deleted["content"] == "This message was deleted"


def test_a_failed_request_leaves_neither_change_nor_event(
    api: ApiClient, receiver: Receiver
) -> None:
    subscribe(api, receiver, "/r")
    setup = new_conversation(api)
    mark = len(receiver.wait_for(1, "/r"))  # its conversation_created
    before = api.get("conversations", params={"status": "all"}).json()["data"]["meta"]
    # The conversation is created (and its event published) before the first message is
    # refused: the whole request must roll back.
    response = api.post(
        "conversations",
        json={
            "inbox_id": setup.inbox_id,
            "contact_id": setup.contact_id,
            "message": {"content": "Pick one", "content_type": "input_select"},
        },
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "content_attributes.items"
    after = api.get("conversations", params={"status": "all"}).json()["data"]["meta"]
    assert after["all_count"] == before["all_count"]
    leaked = settle(receiver, api, setup, "/r", since=mark)
    assert leaked == [], f"events of a rolled-back request were delivered: {leaked}"


def test_public_api_changes_fire_the_same_events(api: ApiClient, receiver: Receiver) -> None:
    subscribe(api, receiver, "/p")
    inbox = api.post("inboxes", json={"name": "Public", "channel": {"type": "api"}}).json()
    base = f"/public/api/v1/inboxes/{inbox['inbox_identifier']}"
    contact = api.post(f"{base}/contacts", json={"name": "Visitor"}).json()
    conv = api.post(f"{base}/contacts/{contact['source_id']}/conversations", json={}).json()
    api.post(
        f"{base}/contacts/{contact['source_id']}/conversations/{conv['id']}/messages",
        json={"content": "help"},
    )
    got = receiver.wait_for(2, "/p")
    assert events_of(got) == ["conversation_created", "message_created"] or sorted(
        events_of(got)
    ) == ["conversation_created", "message_created"]
    incoming = by_event(got, "message_created")[0]
    assert incoming["message_type"] == 0
    assert incoming["sender"]["type"] == "contact"
    for r in got:
        validate_event(r.json())
