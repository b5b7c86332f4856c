"""Behaviour of each REST resource over real HTTP: agents, inboxes, contacts, conversations,
messages, the public client API, and the error contract."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import Backend
from tests.support.client import AccountCredentials, ApiClient, unique_email
from voxsig.db import Database
from voxsig.models import User
from voxsig.users.service import issue_token

INCOMING, OUTGOING, ACTIVITY = 0, 1, 2
DELETED = "This message was deleted"
MIB = 1024 * 1024
JSON = dict[str, Any]


# -- helpers -------------------------------------------------------------------------------------


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The response's JSON (None when empty), after checking its status."""
    request = response.request
    assert response.status_code == status, (
        f"{request.method} {request.url} -> {response.status_code}: {response.text[:800]}"
    )
    return response.json() if response.content else None


def error(response: httpx.Response, status: int) -> JSON:
    """A Voxsig error body: JSON with a message and a list of errors."""
    body = ok(response, status)
    assert isinstance(body, dict), body
    assert isinstance(body.get("message"), str)
    assert body["message"], body
    assert isinstance(body.get("errors"), list), body
    return body


def fields_of(body: JSON) -> list[str]:
    return [e["field"] for e in body["errors"]]


def api_inbox(api: ApiClient, name: str = "API") -> JSON:
    inbox: JSON = ok(api.post("inboxes", json={"name": name, "channel": {"type": "api"}}))
    return inbox


def widget_inbox(api: ApiClient, name: str = "Site") -> JSON:
    body = {
        "name": name,
        "channel": {
            "type": "web_widget",
            "website_url": "https://shop.example.com",
            "widget_color": "#aa3300",
            "welcome_title": "Hello!",
            "welcome_tagline": "We reply fast",
        },
    }
    inbox: JSON = ok(api.post("inboxes", json=body))
    return inbox


def new_contact(api: ApiClient, inbox_id: int | None = None, **fields: Any) -> JSON:
    """POST contacts; returns the whole payload ({contact, contact_inbox})."""
    body = {"name": "Bob Buyer", **fields}
    if inbox_id is not None:
        body["inbox_id"] = inbox_id
    payload: JSON = ok(api.post("contacts", json=body))["payload"]
    return payload


def new_conversation(api: ApiClient, inbox_id: int, contact_id: int, **extra: Any) -> JSON:
    conversation: JSON = ok(
        api.post("conversations", json={"inbox_id": inbox_id, "contact_id": contact_id, **extra})
    )
    return conversation


def setup_thread(api: ApiClient, contact_name: str = "Bob Buyer") -> tuple[JSON, JSON, JSON]:
    """An API inbox, a contact in it and an open conversation: (inbox, contact, conversation)."""
    inbox = api_inbox(api)
    contact = new_contact(api, inbox["id"], name=contact_name, email=unique_email("bob"))
    conversation = new_conversation(api, inbox["id"], contact["contact"]["id"])
    return inbox, contact["contact"], conversation


def send(api: ApiClient, cid: int, content: str, **extra: Any) -> JSON:
    message: JSON = ok(
        api.post(f"conversations/{cid}/messages", json={"content": content, **extra})
    )
    return message


def messages_of(api: ApiClient, cid: int, **params: Any) -> list[JSON]:
    payload: list[JSON] = ok(api.get(f"conversations/{cid}/messages", params=params))["payload"]
    return payload


def activity_of(api: ApiClient, cid: int) -> list[str]:
    return [m["content"] for m in messages_of(api, cid) if m["message_type"] == ACTIVITY]


def conversation_ids(api: ApiClient, **params: Any) -> list[int]:
    body = ok(api.get("conversations", params=params))
    return sorted(c["id"] for c in body["data"]["payload"])


def issue_token_for(database_url: str, user_id: int) -> str:
    """An API token for an existing user, made in-process (Voxsig has no endpoint for it yet)."""

    async def run() -> str:
        db = Database(database_url)
        try:
            async with db.transaction() as session:
                user = await session.get(User, user_id)
                assert user is not None, f"no user {user_id}"
                return await issue_token(session, user)
        finally:
            await db.dispose()

    return asyncio.run(run())


@pytest.fixture
def make_member(backend: Backend, api: ApiClient) -> Iterator[Callable[..., ApiClient]]:
    """Adds a user to `api`'s account through POST agents and returns a client with their token."""
    clients: list[ApiClient] = []

    def make(role: str = "agent", name: str = "Andy Agent") -> ApiClient:
        email = unique_email(role)
        agent = ok(api.post("agents", json={"name": name, "email": email, "role": role}))
        assert agent["role"] == role
        token = issue_token_for(backend.database_url, agent["id"])
        client = ApiClient(
            backend.url, AccountCredentials(api.account_id, agent["id"], token, email, "")
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# -- agents --------------------------------------------------------------------------------------


def test_agent_add_and_role_change(api: ApiClient) -> None:
    email = unique_email("agent")
    added = ok(api.post("agents", json={"name": "Andy Agent", "email": email}))
    assert (added["name"], added["email"], added["role"]) == ("Andy Agent", email, "agent")
    assert added["account_id"] == api.account_id
    listed = ok(api.get("agents"))
    assert sorted((a["id"], a["role"]) for a in listed) == sorted(
        [(api.user_id, "administrator"), (added["id"], "agent")]
    )
    promoted = ok(api.patch(f"agents/{added['id']}", json={"role": "administrator"}))
    assert promoted["role"] == "administrator"
    assert ok(api.get(f"agents/{added['id']}"))["role"] == "administrator"
    demoted = ok(api.patch(f"agents/{added['id']}", json={"role": "agent"}))
    assert demoted["role"] == "agent"


def test_agent_remove(api: ApiClient) -> None:
    added = ok(api.post("agents", json={"name": "Temp", "email": unique_email("temp")}))
    ok(api.delete(f"agents/{added['id']}"))
    error(api.get(f"agents/{added['id']}"), 404)
    assert [a["id"] for a in ok(api.get("agents"))] == [api.user_id]


def test_the_last_administrator_cannot_be_removed_or_demoted(api: ApiClient) -> None:
    body = error(api.delete(f"agents/{api.user_id}"), 422)
    assert fields_of(body) == ["role"]
    body = error(api.patch(f"agents/{api.user_id}", json={"role": "agent"}), 422)
    assert fields_of(body) == ["role"]
    assert ok(api.get(f"agents/{api.user_id}"))["role"] == "administrator"
    # With a second administrator, the first may step down.
    ok(
        api.post(
            "agents", json={"name": "Bea", "email": unique_email("b"), "role": "administrator"}
        )
    )
    assert ok(api.patch(f"agents/{api.user_id}", json={"role": "agent"}))["role"] == "agent"


def test_an_agent_gets_403_on_administrator_writes(
    api: ApiClient, make_member: Callable[..., ApiClient]
) -> None:
    inbox = api_inbox(api)
    agent = make_member("agent")
    profile = ok(agent.get("/api/v1/profile"))
    assert (profile["id"], profile["role"]) == (agent.user_id, "agent")

    denied = [
        agent.post("inboxes", json={"name": "Mine", "channel": {"type": "api"}}),
        agent.patch(f"inboxes/{inbox['id']}", json={"name": "Renamed"}),
        agent.delete(f"inboxes/{inbox['id']}"),
        agent.post("agents", json={"name": "X", "email": unique_email("x")}),
        agent.patch(f"agents/{agent.user_id}", json={"role": "administrator"}),
        agent.delete(f"agents/{api.user_id}"),
        agent.get("webhooks"),
        agent.post("webhooks", json={"url": "https://example.com/h", "subscriptions": ["x"]}),
    ]
    for response in denied:
        error(response, 403)

    # Nothing changed, and the agent can still do an agent's work.
    assert [i["name"] for i in ok(api.get("inboxes"))["payload"]] == ["API"]
    assert ok(api.get(f"agents/{agent.user_id}"))["role"] == "agent"
    listed = ok(agent.get("inboxes"))["payload"]
    assert [i["id"] for i in listed] == [inbox["id"]]
    assert "hmac_token" not in listed[0]
    assert "hmac_token" not in ok(agent.get(f"inboxes/{inbox['id']}"))
    contact = new_contact(agent, inbox["id"], name="Walk-in")
    conversation = new_conversation(agent, inbox["id"], contact["contact"]["id"])
    assert conversation["status"] == "open"


def test_an_agent_sees_their_own_assignments_as_me(
    api: ApiClient, make_member: Callable[..., ApiClient]
) -> None:
    inbox, contact, first = setup_thread(api)
    second = new_conversation(api, inbox["id"], contact["id"])
    agent = make_member("agent", name="Andy Agent")
    assigned = ok(
        api.post(f"conversations/{second['id']}/assignments", json={"assignee_id": agent.user_id})
    )
    assert (assigned["id"], assigned["name"]) == (agent.user_id, "Andy Agent")
    assert conversation_ids(agent, assignee_type="me") == [second["id"]]
    assert conversation_ids(api, assignee_type="me") == []
    assert conversation_ids(api, assignee_type="unassigned") == [first["id"]]


# -- inboxes -------------------------------------------------------------------------------------


def test_web_widget_inbox(api: ApiClient) -> None:
    inbox = widget_inbox(api)
    assert inbox["channel_type"] == "Channel::WebWidget"
    assert inbox["account_id"] == api.account_id
    assert (inbox["website_url"], inbox["widget_color"]) == ("https://shop.example.com", "#aa3300")
    assert (inbox["welcome_title"], inbox["welcome_tagline"]) == ("Hello!", "We reply fast")
    assert isinstance(inbox["website_token"], str)
    assert len(inbox["website_token"]) >= 16
    script = inbox["web_widget_script"]
    assert "/packs/js/sdk.js" in script
    assert inbox["website_token"] in script
    assert api.url in script  # the base URL the embedding page loads the SDK from
    assert inbox["inbox_identifier"] is None
    assert isinstance(inbox["hmac_token"], str)
    assert len(inbox["hmac_token"]) >= 16
    assert ok(api.get(f"inboxes/{inbox['id']}"))["website_token"] == inbox["website_token"]


def test_api_inbox(api: ApiClient) -> None:
    body = {"name": "Backend", "channel": {"type": "api", "webhook_url": "https://example.com/x"}}
    inbox = ok(api.post("inboxes", json=body))
    assert inbox["channel_type"] == "Channel::Api"
    assert isinstance(inbox["inbox_identifier"], str)
    assert len(inbox["inbox_identifier"]) >= 16
    assert inbox["webhook_url"] == "https://example.com/x"
    assert inbox["website_token"] is None
    assert inbox["web_widget_script"] is None
    assert isinstance(inbox["hmac_token"], str)
    assert inbox["hmac_token"]
    shown = ok(api.get(f"inboxes/{inbox['id']}"))
    assert shown["hmac_token"] == inbox["hmac_token"]
    assert shown["inbox_identifier"] == inbox["inbox_identifier"]
    assert ok(api.get("inboxes"))["payload"][0]["hmac_token"] == inbox["hmac_token"]
    other = api_inbox(api, "Second")
    assert other["inbox_identifier"] != inbox["inbox_identifier"]
    assert other["hmac_token"] != inbox["hmac_token"]


def test_inbox_update_and_delete(api: ApiClient) -> None:
    inbox = widget_inbox(api)
    updated = ok(
        api.patch(
            f"inboxes/{inbox['id']}",
            json={"name": "Shop", "channel": {"widget_color": "#000000"}, "greeting_enabled": True},
        )
    )
    assert (updated["name"], updated["widget_color"], updated["greeting_enabled"]) == (
        "Shop",
        "#000000",
        True,
    )
    assert updated["website_token"] == inbox["website_token"]
    fetched = ok(api.get(f"inboxes/{inbox['id']}"))
    assert (fetched["name"], fetched["widget_color"]) == ("Shop", "#000000")

    ok(api.delete(f"inboxes/{inbox['id']}"))
    error(api.get(f"inboxes/{inbox['id']}"), 404)
    assert ok(api.get("inboxes"))["payload"] == []


def test_deleting_an_inbox_deletes_its_conversations(api: ApiClient) -> None:
    inbox, contact, conversation = setup_thread(api)
    send(api, conversation["id"], "Hello")
    ok(api.delete(f"inboxes/{inbox['id']}"))
    error(api.get(f"conversations/{conversation['id']}"), 404)
    assert ok(api.get(f"contacts/{contact['id']}"))["payload"]["contact_inboxes"] == []


# -- contacts ------------------------------------------------------------------------------------


def test_contacts_pagination(api: ApiClient) -> None:
    made = [new_contact(api, name=f"Person {n:02d}")["contact"]["id"] for n in range(17)]
    first = ok(api.get("contacts"))
    assert first["meta"] == {"count": 17, "current_page": 1}
    assert len(first["payload"]) == 15
    second = ok(api.get("contacts", params={"page": 2}))
    assert second["meta"] == {"count": 17, "current_page": 2}
    assert len(second["payload"]) == 2
    seen = [c["id"] for c in first["payload"]] + [c["id"] for c in second["payload"]]
    assert sorted(seen) == sorted(made)
    third = ok(api.get("contacts", params={"page": 3}))
    assert third["meta"] == {"count": 17, "current_page": 3}
    assert third["payload"] == []


def test_contacts_search_by_name_and_email(api: ApiClient) -> None:
    alice = new_contact(api, name="Alice Liddell", email="alice.wonder@example.org")["contact"]
    bob = new_contact(api, name="Bob Builder", email="bob@builders.example")["contact"]
    new_contact(api, name="Carol", email="carol@example.net")

    def search(q: str) -> list[int]:
        body = ok(api.get("contacts/search", params={"q": q}))
        assert body["meta"]["count"] == len(body["payload"])
        return sorted(c["id"] for c in body["payload"])

    assert search("liddell") == [alice["id"]]
    assert search("BUILDER") == [bob["id"]]
    assert search("alice.wonder@example.org") == [alice["id"]]
    assert search("@builders.") == [bob["id"]]
    assert search("nobody-matches-this") == []


def test_duplicate_email_is_422_on_email(api: ApiClient) -> None:
    new_contact(api, email="dup@example.com")
    for email in ("dup@example.com", "DUP@Example.com"):
        body = error(api.post("contacts", json={"name": "Again", "email": email}), 422)
        assert body["errors"][0]["field"] == "email"
    other = new_contact(api, email="other@example.com")["contact"]
    body = error(api.patch(f"contacts/{other['id']}", json={"email": "dup@example.com"}), 422)
    assert body["errors"][0]["field"] == "email"
    assert ok(api.get("contacts"))["meta"]["count"] == 2


def test_contact_with_inbox_id_gets_a_source_id(api: ApiClient) -> None:
    inbox = api_inbox(api)
    payload = new_contact(api, inbox["id"], email=unique_email("c"))
    link = payload["contact_inbox"]
    assert isinstance(link["source_id"], str)
    assert link["source_id"]
    assert link["inbox"]["id"] == inbox["id"]
    shown = ok(api.get(f"contacts/{payload['contact']['id']}"))["payload"]
    assert [(ci["source_id"], ci["inbox"]["id"]) for ci in shown["contact_inboxes"]] == [
        (link["source_id"], inbox["id"])
    ]
    chosen = new_contact(api, inbox["id"], source_id="crm-42")["contact_inbox"]
    assert chosen["source_id"] == "crm-42"
    without = new_contact(api)
    assert without["contact_inbox"]["source_id"] is None


def test_contact_update_merges_custom_attributes(api: ApiClient) -> None:
    contact = new_contact(api, custom_attributes={"plan": "free", "seats": 3})["contact"]
    patched = ok(
        api.patch(f"contacts/{contact['id']}", json={"custom_attributes": {"plan": "pro"}})
    )["payload"]
    assert patched["custom_attributes"] == {"plan": "pro", "seats": 3}
    put = ok(
        api.put(f"contacts/{contact['id']}", json={"name": "Robert", "custom_attributes": {"x": 1}})
    )["payload"]
    assert put["name"] == "Robert"
    assert put["custom_attributes"] == {"plan": "pro", "seats": 3, "x": 1}
    shown = ok(api.get(f"contacts/{contact['id']}"))["payload"]
    assert (shown["name"], shown["custom_attributes"]) == (
        "Robert",
        {"plan": "pro", "seats": 3, "x": 1},
    )


def test_contact_delete(api: ApiClient) -> None:
    _, contact, conversation = setup_thread(api)
    send(api, conversation["id"], "Hello", message_type="incoming")
    ok(api.delete(f"contacts/{contact['id']}"))
    error(api.get(f"contacts/{contact['id']}"), 404)
    error(api.delete(f"contacts/{contact['id']}"), 404)
    error(api.get(f"conversations/{conversation['id']}"), 404)
    assert ok(api.get("contacts"))["meta"]["count"] == 0


# -- conversations -------------------------------------------------------------------------------


def test_create_conversation_by_contact_id(api: ApiClient) -> None:
    inbox = api_inbox(api)
    payload = new_contact(api, inbox["id"], name="Bob", email=unique_email("bob"))
    contact = payload["contact"]
    conversation = new_conversation(
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
    assert new_conversation(api, inbox["id"], contact["id"])["id"] == 2
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
    c2 = new_conversation(api, inbox["id"], contact["id"])
    c3 = new_conversation(api, inbox["id"], contact["id"])
    other_inbox = api_inbox(api, "Other")
    c4 = new_conversation(api, other_inbox["id"], contact["id"])
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


# -- messages ------------------------------------------------------------------------------------


def test_create_outgoing_incoming_and_private_messages(api: ApiClient) -> None:
    _, contact, conversation = setup_thread(api)
    cid = conversation["id"]
    out = send(api, cid, "Hello Bob")
    assert (out["content"], out["message_type"], out["private"]) == ("Hello Bob", OUTGOING, False)
    assert out["sender"]["id"] == api.user_id
    assert (out["conversation_id"], out["account_id"]) == (cid, api.account_id)
    inc = send(api, cid, "Hi, my order?", message_type="incoming")
    assert inc["message_type"] == INCOMING
    assert (inc["sender"]["id"], inc["sender"]["type"]) == (contact["id"], "contact")
    note = send(api, cid, "Check the refund", private=True)
    assert (note["message_type"], note["private"]) == (OUTGOING, True)
    assert note["sender"]["id"] == api.user_id
    by_number = send(api, cid, "As a number", message_type=0)
    assert by_number["message_type"] == INCOMING
    assert [(m["id"], m["content"]) for m in messages_of(api, cid)] == [
        (out["id"], "Hello Bob"),
        (inc["id"], "Hi, my order?"),
        (note["id"], "Check the refund"),
        (by_number["id"], "As a number"),
    ]


def test_message_validation(api: ApiClient) -> None:
    _, _, conversation = setup_thread(api)
    path = f"conversations/{conversation['id']}/messages"
    assert fields_of(error(api.post(path, json={"content": "   "}), 422)) == ["content"]
    assert fields_of(error(api.post(path, json={"content": "x", "message_type": "activity"}), 422))
    assert fields_of(
        error(api.post(path, json={"content": "x", "message_type": "sideways"}), 422)
    ) == ["message_type"]
    assert messages_of(api, conversation["id"]) == []


def test_messages_are_listed_oldest_first_and_page_with_before(api: ApiClient) -> None:
    _, _, conversation = setup_thread(api)
    cid = conversation["id"]
    ids = [send(api, cid, f"message {n}")["id"] for n in range(25)]
    latest = messages_of(api, cid)
    assert [m["id"] for m in latest] == ids[5:]  # the latest 20, oldest first
    assert [m["content"] for m in latest][:2] == ["message 5", "message 6"]
    older = messages_of(api, cid, before=latest[0]["id"])
    assert [m["id"] for m in older] == ids[:5]
    assert messages_of(api, cid, before=ids[0]) == []
    assert [m["id"] for m in messages_of(api, cid, after=ids[22])] == ids[23:]


def test_edit_and_delete_messages(api: ApiClient) -> None:
    _, _, conversation = setup_thread(api)
    cid = conversation["id"]
    first = send(api, cid, "Helo")
    second = send(api, cid, "Wrong chat")
    third = send(api, cid, "Typo herr")
    edited = ok(api.patch(f"messages/{first['id']}", json={"content": "Hello"}))
    assert (edited["id"], edited["content"]) == (first["id"], "Hello")
    nested = ok(api.patch(f"conversations/{cid}/messages/{third['id']}", json={"content": "Typo"}))
    assert nested["content"] == "Typo"

    ok(api.delete(f"messages/{second['id']}"))
    listed = {m["id"]: m for m in messages_of(api, cid)}
    assert listed[first["id"]]["content"] == "Hello"
    assert listed[third["id"]]["content"] == "Typo"
    assert listed[second["id"]]["content"] == DELETED
    assert listed[second["id"]]["content_attributes"]["deleted"] is True
    assert len(listed) == 3  # a soft delete: the message stays in place

    ok(api.delete(f"conversations/{cid}/messages/{third['id']}"))
    gone = {m["id"]: m for m in messages_of(api, cid)}[third["id"]]
    assert (gone["content"], gone["content_attributes"]["deleted"]) == (DELETED, True)


def test_a_message_is_only_reachable_under_its_own_conversation(api: ApiClient) -> None:
    inbox, contact, first = setup_thread(api)
    second = new_conversation(api, inbox["id"], contact["id"])
    message = send(api, second["id"], "In the second conversation")
    error(
        api.patch(f"conversations/{first['id']}/messages/{message['id']}", json={"content": "x"}),
        404,
    )
    error(api.delete(f"conversations/{first['id']}/messages/{message['id']}"), 404)
    assert messages_of(api, second["id"])[0]["content"] == "In the second conversation"
    error(api.patch("messages/987654321", json={"content": "x"}), 404)
    error(api.delete("messages/987654321"), 404)


def test_an_incoming_message_reopens_a_resolved_conversation(api: ApiClient) -> None:
    _, _, conversation = setup_thread(api, contact_name="Bob Buyer")
    cid = conversation["id"]
    ok(api.post(f"conversations/{cid}/toggle_status", json={"status": "resolved"}))
    send(api, cid, "Following up (outgoing)")
    assert ok(api.get(f"conversations/{cid}"))["status"] == "resolved"
    send(api, cid, "One more question", message_type="incoming")
    assert ok(api.get(f"conversations/{cid}"))["status"] == "open"
    assert activity_of(api, cid) == [
        "Conversation was resolved by Ada Admin",
        "Conversation was reopened by Bob Buyer",
    ]


# -- the public client API -----------------------------------------------------------------------


def public(api: ApiClient, inbox_identifier: str, path: str = "") -> str:
    return f"{api.url}/public/api/v1/inboxes/{inbox_identifier}/contacts{path}"


@pytest.fixture
def anon() -> Iterator[httpx.Client]:
    """A client without any token: the public API is for contacts, not agents."""
    client = httpx.Client(timeout=30.0)
    try:
        yield client
    finally:
        client.close()


def public_contact(
    anon: httpx.Client, api: ApiClient, inbox_identifier: str, **fields: Any
) -> JSON:
    body = {"name": "Pat Public", **fields}
    contact: JSON = ok(anon.post(public(api, inbox_identifier), json=body))
    return contact


def test_public_contact_create_show_update(api: ApiClient, anon: httpx.Client) -> None:
    inbox = api_inbox(api)
    email = unique_email("pat")
    contact = public_contact(anon, api, inbox["inbox_identifier"], email=email)
    assert isinstance(contact["source_id"], str)
    assert contact["source_id"]
    assert (contact["name"], contact["email"]) == ("Pat Public", email)
    shown = ok(anon.get(public(api, inbox["inbox_identifier"], f"/{contact['source_id']}")))
    assert (shown["id"], shown["source_id"]) == (contact["id"], contact["source_id"])
    patched = ok(
        anon.patch(
            public(api, inbox["inbox_identifier"], f"/{contact['source_id']}"),
            json={"name": "Patricia"},
        )
    )
    assert patched["name"] == "Patricia"
    agent_view = ok(api.get(f"contacts/{contact['id']}"))["payload"]
    assert (agent_view["name"], agent_view["email"]) == ("Patricia", email)
    assert [ci["source_id"] for ci in agent_view["contact_inboxes"]] == [contact["source_id"]]


def test_public_conversations_create_list_get(api: ApiClient, anon: httpx.Client) -> None:
    inbox = api_inbox(api)
    contact = public_contact(anon, api, inbox["inbox_identifier"])
    base = public(api, inbox["inbox_identifier"], f"/{contact['source_id']}/conversations")
    created = ok(anon.post(base, json={}))
    assert created["id"] == 1
    assert (created["inbox_id"], created["status"]) == (inbox["id"], "open")
    assert created["contact"]["id"] == contact["id"]
    second = ok(anon.post(base, json={"custom_attributes": {"page": "/pricing"}}))
    assert second["id"] == 2
    assert [c["id"] for c in ok(anon.get(base))] == [1, 2]
    assert ok(anon.get(f"{base}/2"))["id"] == 2
    agent_view = ok(api.get("conversations/2"))
    assert agent_view["contact_id"] == contact["id"]
    assert agent_view["custom_attributes"] == {"page": "/pricing"}
    error(anon.get(f"{base}/3"), 404)


def test_public_messages_echo_id_and_no_private_notes(api: ApiClient, anon: httpx.Client) -> None:
    inbox = api_inbox(api)
    contact = public_contact(anon, api, inbox["inbox_identifier"])
    base = public(api, inbox["inbox_identifier"], f"/{contact['source_id']}/conversations")
    conversation = ok(anon.post(base, json={}))
    messages = f"{base}/{conversation['id']}/messages"
    sent = ok(anon.post(messages, json={"content": "Where is my parcel?", "echo_id": "tmp-1"}))
    assert (sent["content"], sent["echo_id"]) == ("Where is my parcel?", "tmp-1")
    assert sent["message_type"] == INCOMING
    assert sent["conversation_id"] == conversation["id"]

    send(api, conversation["id"], "It left the warehouse today")
    send(api, conversation["id"], "SECRET internal note", private=True)

    listed = ok(anon.get(messages))
    assert [(m["content"], m["message_type"]) for m in listed] == [
        ("Where is my parcel?", INCOMING),
        ("It left the warehouse today", OUTGOING),
    ]
    shown = ok(anon.get(f"{base}/{conversation['id']}"))
    assert "SECRET" not in str(shown)
    assert "SECRET" not in str(ok(anon.get(base)))
    # The agents see all three.
    assert len(messages_of(api, conversation["id"])) == 3


def test_public_toggle_status_resolves(api: ApiClient, anon: httpx.Client) -> None:
    inbox = api_inbox(api)
    contact = public_contact(anon, api, inbox["inbox_identifier"], name="Pat")
    base = public(api, inbox["inbox_identifier"], f"/{contact['source_id']}/conversations")
    conversation = ok(anon.post(base, json={}))
    resolved = ok(anon.post(f"{base}/{conversation['id']}/toggle_status"))
    assert resolved["status"] == "resolved"
    assert ok(api.get(f"conversations/{conversation['id']}"))["status"] == "resolved"
    assert activity_of(api, conversation["id"]) == ["Conversation was resolved by Pat"]


def test_public_identifier_hash(api: ApiClient, anon: httpx.Client) -> None:
    inbox = api_inbox(api)
    identifier = "customer-8812"
    digest = hmac.new(inbox["hmac_token"].encode(), identifier.encode(), hashlib.sha256)
    contact = public_contact(
        anon,
        api,
        inbox["inbox_identifier"],
        identifier=identifier,
        identifier_hash=digest.hexdigest(),
    )
    base = public(api, inbox["inbox_identifier"], f"/{contact['source_id']}/conversations")
    verified = ok(anon.post(base, json={}))
    agent_view = ok(api.get(f"conversations/{verified['id']}"))
    assert agent_view["meta"]["hmac_verified"] is True
    assert agent_view["contact_inbox"]["hmac_verified"] is True

    wrong = anon.post(
        public(api, inbox["inbox_identifier"]),
        json={"identifier": "customer-9999", "identifier_hash": digest.hexdigest()},
    )
    error(wrong, 401)
    assert ok(api.get("contacts/search", params={"q": "customer-9999"}))["payload"] == []

    plain = public_contact(anon, api, inbox["inbox_identifier"], name="Unverified")
    base = public(api, inbox["inbox_identifier"], f"/{plain['source_id']}/conversations")
    unverified = ok(anon.post(base, json={}))
    assert ok(api.get(f"conversations/{unverified['id']}"))["meta"]["hmac_verified"] is False


def test_public_hmac_mandatory_inbox_refuses_unverified_contacts(
    api: ApiClient, anon: httpx.Client
) -> None:
    inbox = api_inbox(api)
    ok(api.patch(f"inboxes/{inbox['id']}", json={"hmac_mandatory": True}))
    error(anon.post(public(api, inbox["inbox_identifier"]), json={"name": "Anon"}), 401)
    identifier = "u-1"
    good = hmac.new(inbox["hmac_token"].encode(), identifier.encode(), hashlib.sha256).hexdigest()
    made = public_contact(
        anon, api, inbox["inbox_identifier"], identifier=identifier, identifier_hash=good
    )
    assert made["source_id"]


def test_public_api_needs_an_api_inbox(api: ApiClient, anon: httpx.Client) -> None:
    widget = widget_inbox(api)
    error(anon.post(public(api, widget["website_token"]), json={"name": "x"}), 404)
    error(anon.post(public(api, "no-such-inbox"), json={"name": "x"}), 404)
    inbox = api_inbox(api)
    error(anon.get(public(api, inbox["inbox_identifier"], "/not-a-source-id")), 404)


# -- errors and service endpoints ----------------------------------------------------------------


def test_422_bodies_name_the_bad_field(api: ApiClient) -> None:
    inbox, _, conversation = setup_thread(api)
    cid = conversation["id"]
    cases: list[tuple[str, str, JSON, str]] = [
        ("POST", "inboxes", {"name": "", "channel": {"type": "api"}}, "name"),
        ("POST", "inboxes", {"name": "x", "channel": {"type": "sms"}}, "channel.type"),
        ("POST", "inboxes", {"name": "x"}, "channel"),
        ("POST", "contacts", {"name": "x", "email": "not-an-email"}, "email"),
        ("POST", "contacts", {"name": "x", "phone_number": "12345"}, "phone_number"),
        ("POST", "conversations", {"contact_id": 1}, "inbox_id"),
        ("POST", "agents", {"name": "x", "email": unique_email(), "role": "owner"}, "role"),
        ("POST", f"conversations/{cid}/toggle_status", {"status": "closed"}, "status"),
        ("POST", f"conversations/{cid}/labels", {"labels": ["has space"]}, "labels"),
        ("POST", f"conversations/{cid}/assignments", {"assignee_id": "me"}, "assignee_id"),
        ("POST", f"conversations/{cid}/toggle_priority", {"priority": "critical"}, "priority"),
        ("PATCH", f"conversations/{cid}", {"priority": "critical"}, "priority"),
        (
            "POST",
            f"conversations/{cid}/messages",
            {"content": "x", "message_type": []},
            "message_type",
        ),
        ("PATCH", f"inboxes/{inbox['id']}", {"widget_color": "red"}, "widget_color"),
        (
            "POST",
            "webhooks",
            {"url": "ftp://x.example", "subscriptions": ["message_created"]},
            "url",
        ),
        (
            "POST",
            "webhooks",
            {"url": "https://x.example", "subscriptions": ["nope"]},
            "subscriptions",
        ),
    ]
    wrong: list[str] = []
    for method, path, body, field in cases:
        response = api.request(method, path, json=body)
        problem = error(response, 422)
        assert problem["error"] == "validation_failed", (path, problem)
        assert all(e["message"] for e in problem["errors"]), problem
        # Each body has one bad field: every error names exactly that field.
        if set(fields_of(problem)) != {field}:
            wrong.append(f"{method} {path} {body}: fields {fields_of(problem)}, not {field!r}")
    assert wrong == [], "\n".join(wrong)


def test_malformed_json_is_400_with_a_json_body(api: ApiClient) -> None:
    for path in ("inboxes", "contacts", "webhooks"):
        response = api.post(
            path, content=b'{"name": "Site", ', headers={"content-type": "application/json"}
        )
        body = error(response, 400)
        assert response.headers["content-type"].startswith("application/json")
        assert body["error"] == "malformed_json"
    assert ok(api.get("inboxes"))["payload"] == []


def test_a_2_mib_body_is_413(api: ApiClient) -> None:
    body = b'{"name": "' + b"x" * (2 * MIB) + b'", "channel": {"type": "api"}}'
    response = api.post("inboxes", content=body, headers={"content-type": "application/json"})
    problem = error(response, 413)
    assert problem["error"] == "payload_too_large"
    assert ok(api.get("inboxes"))["payload"] == []


def test_unknown_ids_are_404(api: ApiClient) -> None:
    missing = 987_654_321
    for method, path in [
        ("GET", f"inboxes/{missing}"),
        ("PATCH", f"inboxes/{missing}"),
        ("DELETE", f"inboxes/{missing}"),
        ("GET", f"contacts/{missing}"),
        ("PATCH", f"contacts/{missing}"),
        ("DELETE", f"contacts/{missing}"),
        ("GET", f"contacts/{missing}/conversations"),
        ("GET", f"conversations/{missing}"),
        ("PATCH", f"conversations/{missing}"),
        ("GET", f"conversations/{missing}/messages"),
        ("POST", f"conversations/{missing}/messages"),
        ("POST", f"conversations/{missing}/toggle_status"),
        ("POST", f"conversations/{missing}/labels"),
        ("PATCH", f"messages/{missing}"),
        ("DELETE", f"messages/{missing}"),
        ("GET", f"agents/{missing}"),
        ("DELETE", f"agents/{missing}"),
        ("GET", f"webhooks/{missing}"),
        ("DELETE", f"webhooks/{missing}"),
        ("GET", f"/api/v1/accounts/{missing}/inboxes"),
        ("GET", "/api/v1/no-such-route"),
    ]:
        kwargs: JSON = {}
        if method in ("POST", "PATCH"):
            kwargs["json"] = {"content": "x", "name": "x", "labels": ["x"]}
        problem = error(api.request(method, path, **kwargs), 404)
        assert problem["error"] == "not_found", (method, path, problem)


def test_ids_beyond_32_and_64_bits_are_404_not_500(api: ApiClient, anon: httpx.Client) -> None:
    """Ids are arbitrary integers to a client: one no row has is 404, whatever its size."""
    inbox, contact, conversation = setup_thread(api)
    cid = conversation["id"]
    visitor = public_contact(anon, api, inbox["inbox_identifier"])
    public_conversations = public(api, inbox["inbox_identifier"], f"/{visitor['source_id']}")
    wrong: list[str] = []
    for big in (2**31, 2**63):
        for method, path, body, allowed in [
            ("GET", f"inboxes/{big}", None, (404,)),
            ("GET", f"contacts/{big}", None, (404,)),
            ("GET", f"conversations/{big}", None, (404,)),
            ("PATCH", f"messages/{big}", {"content": "x"}, (404,)),
            ("GET", f"agents/{big}", None, (404,)),
            ("GET", f"webhooks/{big}", None, (404,)),
            ("GET", f"/api/v1/accounts/{big}/inboxes", None, (404,)),
            ("POST", "conversations", {"inbox_id": big, "contact_id": contact["id"]}, (404, 422)),
            ("POST", "contacts", {"name": "x", "inbox_id": big}, (404, 422)),
            ("POST", f"conversations/{cid}/assignments", {"assignee_id": big}, (422,)),
            ("GET", f"conversations?inbox_id={big}", None, (200, 422)),
            ("GET", f"conversations/{cid}/messages?before={big}", None, (200, 422)),
            ("GET", f"{public_conversations}/conversations/{big}", None, (404,)),
        ]:
            # Connection: close, so that one failure cannot break the next request's connection.
            headers = {"connection": "close"}
            if path.startswith("http"):
                response = anon.request(method, path, json=body, headers=headers)
            else:
                response = api.request(method, path, json=body, headers=headers)
            if response.status_code not in allowed:
                wrong.append(f"{method} {path} {body} -> {response.status_code}, not {allowed}")
    assert wrong == [], "\n".join(wrong)


def test_text_with_a_nul_character_is_stored_or_refused_not_a_500(api: ApiClient) -> None:
    """PostgreSQL text cannot hold U+0000: Voxsig must refuse it (422) or store it, not crash."""
    _, _, conversation = setup_thread(api)
    wrong: list[str] = []
    for path, body, field in [
        ("contacts", {"name": "nul\u0000name"}, "name"),
        (f"conversations/{conversation['id']}/messages", {"content": "x\u0000y"}, "content"),
    ]:
        response = api.post(path, json=body, headers={"connection": "close"})
        if response.status_code == 422:
            if field not in fields_of(response.json()):
                wrong.append(f"POST {path} -> 422 not naming {field}: {response.text[:200]}")
        elif not response.is_success:
            wrong.append(f"POST {path} {body!r} -> {response.status_code}: {response.text[:200]}")
    assert wrong == [], "\n".join(wrong)


def test_an_out_of_range_snoozed_until_is_422(api: ApiClient) -> None:
    _, _, conversation = setup_thread(api)
    cid = conversation["id"]
    wrong: list[str] = []
    for method, path, body in [
        ("PATCH", f"conversations/{cid}", {"status": "snoozed", "snoozed_until": 1e30}),
        (
            "POST",
            f"conversations/{cid}/toggle_status",
            {"status": "snoozed", "snoozed_until": 1e30},
        ),
        (
            "POST",
            f"conversations/{cid}/toggle_status",
            {"status": "snoozed", "snoozed_until": 1e14},
        ),
    ]:
        response = api.request(method, path, json=body, headers={"connection": "close"})
        if response.status_code != 422 or "snoozed_until" not in fields_of(response.json()):
            wrong.append(f"{method} {path} {body} -> {response.status_code}: {response.text[:200]}")
    assert wrong == [], "\n".join(wrong)
    assert ok(api.get(f"conversations/{cid}"))["status"] == "open"


def test_missing_or_wrong_token_is_401(api: ApiClient) -> None:
    for headers in ({}, {"api_access_token": "nope"}, {"authorization": "Bearer nope"}):
        response = httpx.get(f"{api.url}{api.path('inboxes')}", headers=headers)
        assert error(response, 401)["error"] == "unauthorized"
    bearer = httpx.get(
        f"{api.url}{api.path('inboxes')}", headers={"authorization": f"Bearer {api.token}"}
    )
    assert ok(bearer)["payload"] == []


def test_health(backend: Backend) -> None:
    body = ok(httpx.get(f"{backend.url}/health"))
    assert body["status"] == "ok"
    assert isinstance(body["version"], str)
    assert body["version"]


def test_openapi_lists_the_paths(backend: Backend) -> None:
    paths = ok(httpx.get(f"{backend.url}/openapi.json"))["paths"]
    account = "/api/v1/accounts/{account_id}"
    contact = "/public/api/v1/inboxes/{inbox_identifier}/contacts/{contact_identifier}"
    expected = {
        "/api/v1/profile": {"get"},
        f"{account}/agents": {"get", "post"},
        f"{account}/agents/{{agent_id}}": {"get", "patch", "delete"},
        f"{account}/inboxes": {"get", "post"},
        f"{account}/inboxes/{{inbox_id}}": {"get", "patch", "delete"},
        f"{account}/contacts": {"get", "post"},
        f"{account}/contacts/search": {"get"},
        f"{account}/contacts/{{contact_id}}": {"get", "put", "patch", "delete"},
        f"{account}/conversations": {"get", "post"},
        f"{account}/conversations/meta": {"get"},
        f"{account}/conversations/{{conversation_id}}": {"get", "patch"},
        f"{account}/conversations/{{conversation_id}}/toggle_status": {"post"},
        f"{account}/conversations/{{conversation_id}}/toggle_priority": {"post"},
        f"{account}/conversations/{{conversation_id}}/assignments": {"post"},
        f"{account}/conversations/{{conversation_id}}/labels": {"get", "post"},
        f"{account}/conversations/{{conversation_id}}/messages": {"get", "post"},
        f"{account}/conversations/{{conversation_id}}/messages/{{message_id}}": {"patch", "delete"},
        f"{account}/messages/{{message_id}}": {"patch", "delete"},
        f"{account}/webhooks": {"get", "post"},
        f"{account}/webhooks/{{webhook_id}}": {"get", "patch", "put", "delete"},
        "/public/api/v1/inboxes/{inbox_identifier}/contacts": {"post"},
        contact: {"get", "patch"},
        f"{contact}/conversations": {"get", "post"},
        f"{contact}/conversations/{{conversation_id}}": {"get"},
        f"{contact}/conversations/{{conversation_id}}/toggle_status": {"post"},
        f"{contact}/conversations/{{conversation_id}}/messages": {"get", "post"},
        "/health": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, f"{path} missing from /openapi.json"
        assert methods <= set(paths[path]), (path, sorted(paths[path]))
