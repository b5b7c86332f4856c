"""The conversations resource over real HTTP: creation and numbering, list filters, status,
snooze, priority, assignments, labels and activity messages."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support.client import JSON, ApiClient, error, fields_of, ok, unique_email
from tests.support.factories import (
    ACTIVITY,
    OUTGOING,
    activity_of,
    api_inbox,
    conversation_ids,
    create_conversation,
    messages_of,
    new_contact,
    setup_thread,
)


def test_create_conversation_by_contact_id(api: ApiClient) -> None:
    inbox = api_inbox(api)
    payload = new_contact(api, inbox["id"], name="Bob", email=unique_email("bob"))
    contact = payload["contact"]
    conversation = create_conversation(
        api,
        inbox["id"],
        contact["id"],
        custom_attributes={"order": "A-1"},
        message={"content": "Thanks for your order"},
    )
    assert conversation["id"] == 1
    assert (conversation["inbox_id"], conversation["contact_id"]) == (inbox["id"], contact["id"])
    assert conversation["account_id"] == api.account_id
    assert conversation["status"] == "open"
    assert conversation["custom_attributes"] == {"order": "A-1"}
    # It reuses the contact's existing identity in that inbox.
    assert conversation["contact_inbox"]["source_id"] == payload["contact_inbox"]["source_id"]
    assert conversation["meta"]["sender"]["id"] == contact["id"]
    listed = messages_of(api, conversation["id"])
    assert [(m["content"], m["message_type"]) for m in listed] == [
        ("Thanks for your order", OUTGOING)
    ]
    assert ok(api.get(f"conversations/{conversation['id']}"))["id"] == 1


def test_conversation_numbers_are_per_account(
    api: ApiClient, make_account: Callable[..., ApiClient]
) -> None:
    other = make_account()
    _, _, mine = setup_thread(api)
    _, _, theirs = setup_thread(other)
    assert (mine["id"], theirs["id"]) == (1, 1)
    inbox = ok(api.get("inboxes"))["payload"][0]
    contact = ok(api.get("contacts"))["payload"][0]
    assert create_conversation(api, inbox["id"], contact["id"])["id"] == 2
    assert ok(other.get("conversations/1"))["account_id"] == other.account_id
    error(other.get("conversations/2"), 404)


def test_concurrent_creations_get_distinct_numbers(api: ApiClient) -> None:
    inbox, contact, first = setup_thread(api)
    body = {"inbox_id": inbox["id"], "contact_id": contact["id"]}

    def create(_: int) -> int:
        with httpx.Client(base_url=api.url, headers={"api_access_token": api.token}) as client:
            created: JSON = ok(client.post(api.path("conversations"), json=body))
            number: int = created["id"]
            return number

    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(pool.map(create, range(16)))
    assert sorted(numbers) == list(range(first["id"] + 1, first["id"] + 17))
    assert ok(api.get("conversations/meta"))["meta"]["all_count"] == 17


def test_conversation_list_filters_and_meta(api: ApiClient) -> None:
    inbox, contact, c1 = setup_thread(api)
    c2 = create_conversation(api, inbox["id"], contact["id"])
    c3 = create_conversation(api, inbox["id"], contact["id"])
    other_inbox = api_inbox(api, "Other")
    c4 = create_conversation(api, other_inbox["id"], contact["id"])
    ok(api.post(f"conversations/{c2['id']}/toggle_status", json={"status": "resolved"}))
    ok(api.post(f"conversations/{c3['id']}/assignments", json={"assignee_id": api.user_id}))
    ok(api.post(f"conversations/{c1['id']}/labels", json={"labels": ["vip", "billing"]}))
    ok(api.post(f"conversations/{c2['id']}/labels", json={"labels": ["vip"]}))

    assert conversation_ids(api) == [c1["id"], c3["id"], c4["id"]]  # status defaults to open
    assert conversation_ids(api, status="open") == [c1["id"], c3["id"], c4["id"]]
    assert conversation_ids(api, status="resolved") == [c2["id"]]
    assert conversation_ids(api, status="all") == [c1["id"], c2["id"], c3["id"], c4["id"]]
    assert conversation_ids(api, assignee_type="me") == [c3["id"]]
    assert conversation_ids(api, assignee_type="unassigned") == [c1["id"], c4["id"]]
    assert conversation_ids(api, inbox_id=other_inbox["id"]) == [c4["id"]]
    assert conversation_ids(api, status="all", **{"labels[]": ["vip"]}) == [c1["id"], c2["id"]]
    assert conversation_ids(api, status="all", **{"labels[]": ["vip", "billing"]}) == [c1["id"]]

    body = ok(api.get("conversations", params={"status": "open"}))
    assert body["data"]["meta"] == {
        "mine_count": 1,
        "unassigned_count": 2,
        "assigned_count": 1,
        "all_count": 3,
    }
    # meta counts do not depend on assignee_type, only on the other filters.
    mine = ok(api.get("conversations", params={"assignee_type": "me"}))
    assert mine["data"]["meta"]["all_count"] == 3
    assert [c["id"] for c in mine["data"]["payload"]] == [c3["id"]]
    meta = ok(api.get("conversations/meta", params={"status": "all"}))["meta"]
    assert meta == {"mine_count": 1, "unassigned_count": 3, "assigned_count": 1, "all_count": 4}
    meta = ok(api.get("conversations/meta", params={"inbox_id": other_inbox["id"]}))["meta"]
    assert meta["all_count"] == 1


def test_toggle_status_without_status_toggles(api: ApiClient) -> None:
    _, _, conversation = setup_thread(api)
    path = f"conversations/{conversation['id']}/toggle_status"
    first = ok(api.post(path, json={}))["payload"]
    assert first == {
        "success": True,
        "current_status": "resolved",
        "conversation_id": conversation["id"],
        "snoozed_until": None,
    }
    assert ok(api.post(path, json={}))["payload"]["current_status"] == "open"
    assert ok(api.post(path, json={"status": "pending"}))["payload"]["current_status"] == "pending"
    assert ok(api.post(path, json={}))["payload"]["current_status"] == "open"
    assert ok(api.get(f"conversations/{conversation['id']}"))["status"] == "open"


def test_toggle_status_with_no_body_at_all_toggles(api: ApiClient) -> None:
    """Chatwoot's toggle_status takes no parameters to toggle; clients send a bare POST."""
    _, _, conversation = setup_thread(api)
    response = api.post(f"conversations/{conversation['id']}/toggle_status")
    assert ok(response)["payload"]["current_status"] == "resolved"


def test_snooze_with_a_unix_timestamp(api: ApiClient) -> None:
    _, _, conversation = setup_thread(api)
    until = int(time.time()) + 3600
    path = f"conversations/{conversation['id']}/toggle_status"
    payload = ok(api.post(path, json={"status": "snoozed", "snoozed_until": until}))["payload"]
    assert (payload["current_status"], payload["snoozed_until"]) == ("snoozed", until)
    shown = ok(api.get(f"conversations/{conversation['id']}"))
    assert (shown["status"], shown["snoozed_until"]) == ("snoozed", until)
    assert conversation_ids(api, status="snoozed") == [conversation["id"]]
    # Toggling a snoozed conversation opens it and clears the snooze.
    assert ok(api.post(path, json={}))["payload"]["current_status"] == "open"
    shown = ok(api.get(f"conversations/{conversation['id']}"))
    assert (shown["status"], shown["snoozed_until"]) == ("open", None)


def test_toggle_priority(api: ApiClient) -> None:
    _, _, conversation = setup_thread(api)
    path = f"conversations/{conversation['id']}/toggle_priority"
    ok(api.post(path, json={"priority": "urgent"}))
    assert ok(api.get(f"conversations/{conversation['id']}"))["priority"] == "urgent"
    ok(api.post(path, json={"priority": "low"}))
    assert ok(api.get(f"conversations/{conversation['id']}"))["priority"] == "low"
    ok(api.post(path, json={"priority": "none"}))
    assert ok(api.get(f"conversations/{conversation['id']}"))["priority"] is None
    error(api.post(path, json={"priority": "critical"}), 422)
    assert ok(api.get(f"conversations/{conversation['id']}"))["priority"] is None


def test_assignments(api: ApiClient, make_account: Callable[..., ApiClient]) -> None:
    _, _, conversation = setup_thread(api)
    path = f"conversations/{conversation['id']}/assignments"
    assignee = ok(api.post(path, json={"assignee_id": api.user_id}))
    assert (assignee["id"], assignee["name"]) == (api.user_id, "Ada Admin")
    shown = ok(api.get(f"conversations/{conversation['id']}"))
    assert shown["assignee_id"] == api.user_id
    assert shown["meta"]["assignee"]["id"] == api.user_id

    foreign = make_account()
    for user_id in (foreign.user_id, 987_654_321):
        body = error(api.post(path, json={"assignee_id": user_id}), 422)
        assert fields_of(body) == ["assignee_id"]
    assert ok(api.get(f"conversations/{conversation['id']}"))["assignee_id"] == api.user_id

    ok(api.post(path, json={"assignee_id": None}))
    assert ok(api.get(f"conversations/{conversation['id']}"))["assignee_id"] is None


def test_labels_are_replaced(api: ApiClient) -> None:
    _, _, conversation = setup_thread(api)
    path = f"conversations/{conversation['id']}/labels"
    assert ok(api.post(path, json={"labels": ["billing", "vip"]}))["payload"] == ["billing", "vip"]
    assert ok(api.post(path, json={"labels": ["vip", "refund"]}))["payload"] == ["refund", "vip"]
    assert ok(api.get(path))["payload"] == ["refund", "vip"]
    assert ok(api.get(f"conversations/{conversation['id']}"))["labels"] == ["refund", "vip"]
    assert ok(api.post(path, json={"labels": []}))["payload"] == []
    assert ok(api.get(path))["payload"] == []


def test_activity_messages(api: ApiClient) -> None:
    _, _, conversation = setup_thread(api)
    cid = conversation["id"]
    ok(api.post(f"conversations/{cid}/toggle_status", json={"status": "resolved"}))
    ok(api.post(f"conversations/{cid}/toggle_status", json={"status": "open"}))
    ok(api.post(f"conversations/{cid}/assignments", json={"assignee_id": api.user_id}))
    listed = messages_of(api, cid)
    activity = [m for m in listed if m["message_type"] == ACTIVITY]
    assert [m["content"] for m in activity] == [
        "Conversation was resolved by Ada Admin",
        "Conversation was reopened by Ada Admin",
        "Assigned to Ada Admin by Ada Admin",
    ]
    assert all(m["private"] is False and m["conversation_id"] == cid for m in activity)
    # The same status again is not a change: no new activity message.
    ok(api.post(f"conversations/{cid}/toggle_status", json={"status": "open"}))
    assert len(activity_of(api, cid)) == 3
