"""The public client API over real HTTP, as a contact's app calls it: contacts, conversations,
messages, status, identifier hashes, and which inboxes it serves."""

from __future__ import annotations

import hashlib
import hmac

import httpx

from tests.support.client import ApiClient, error, ok, unique_email
from tests.support.factories import (
    INCOMING,
    OUTGOING,
    activity_of,
    api_inbox,
    messages_of,
    post_message,
    widget_inbox,
)
from tests.support.widget import public, public_contact


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

    post_message(api, conversation["id"], "It left the warehouse today")
    post_message(api, conversation["id"], "SECRET internal note", private=True)

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
