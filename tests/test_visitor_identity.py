"""Visitor identity (issue 11, finding 2): an identifier a visitor claims without its
identifier_hash never becomes the customer's, and a verified login never lands where an
unverified token can read. Over HTTP, with the attacker's and the customer's own tokens."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Backend
from tests.support.client import ApiClient, unique_email
from tests.support.factories import api_inbox, post_message, widget_inbox
from tests.support.widget import LiveStream, PublicContact, visit
from voxsig.kit.signatures import hmac_hex

JSON = dict[str, Any]


def contents(messages: list[JSON]) -> list[str]:
    return [m["content"] for m in messages]


def test_claiming_an_identifier_first_does_not_take_over_the_verified_customer(
    api: ApiClient, backend: Backend, closing: list[Any]
) -> None:
    inbox = widget_inbox(api)  # hmac_mandatory false, the default
    identifier = f"customer-{uuid.uuid4().hex[:8]}"
    real_email, evil_email = unique_email("real"), unique_email("evil")

    attacker = visit(backend, inbox, closing)
    claimed = attacker.ok(
        "PATCH",
        "contact/set_user",
        json={"identifier": identifier, "name": "Mallory", "email": evil_email},
    )
    assert claimed["hmac_verified"] is False
    attacker.ok("PATCH", "contact", json={"custom_attributes": {"planted": True}})
    planted = attacker.say("Hi, I am the customer, please change my address")

    customer = visit(backend, inbox, closing)
    logged_in = customer.ok(
        "PATCH",
        "contact/set_user",
        json={
            "identifier": identifier,
            "identifier_hash": hmac_hex(inbox["hmac_token"], identifier),
            "name": "Real Customer",
            "email": real_email,
        },
    )
    customer.token = logged_in["auth_token"]
    assert (logged_in["hmac_verified"], logged_in["identifier"]) == (True, identifier)
    assert logged_in["id"] != claimed["id"]
    attacker_live, customer_live = LiveStream(attacker), LiveStream(customer)
    closing.extend([attacker_live, customer_live])

    secret = customer.say("My card ends in 4242")
    assert secret["conversation_id"] != planted["conversation_id"]
    reply = post_message(api, secret["conversation_id"], "Refund sent to card 4242")

    # The customer's stream gets the reply; then the attacker's has had every chance to.
    seen: list[tuple[str, Any]] = []
    while ("message.created", reply["id"]) not in [(k, d.get("id")) for k, d in seen]:
        seen.append(customer_live.next())
    leaked = [e for e in attacker_live.drain(1.5) if "4242" in str(e[1])]
    assert leaked == []

    # The attacker's token reads their own conversation only, and nothing of the customer's.
    theirs = attacker.ok("GET", "messages")
    assert contents(theirs["payload"]) == ["Hi, I am the customer, please change my address"]
    assert [c["id"] for c in attacker.ok("GET", "conversations")] == [planted["conversation_id"]]
    answered = attacker.request(
        "PATCH", f"messages/{reply['id']}", json={"submitted_values": [{"value": "x"}]}
    )
    assert answered.status_code == 404, answered.text
    own = attacker.ok("GET", "contact")
    assert (own["id"], own["hmac_verified"], own["name"]) == (claimed["id"], False, "Mallory")
    assert own["email"] == evil_email

    # The customer sees their own conversation, nothing the attacker wrote.
    mine = customer.ok("GET", "messages")["payload"]
    assert contents(mine) == ["My card ends in 4242", "Refund sent to card 4242"]
    assert [c["id"] for c in customer.ok("GET", "conversations")] == [secret["conversation_id"]]

    # Agents: two contacts; the customer's carries the customer's data, none of the attacker's.
    customer_contact = api.get(f"contacts/{logged_in['id']}").json()["payload"]
    assert (customer_contact["name"], customer_contact["email"]) == ("Real Customer", real_email)
    assert customer_contact["custom_attributes"] == {}
    attacker_contact = api.get(f"contacts/{claimed['id']}").json()["payload"]
    assert (attacker_contact["name"], attacker_contact["email"]) == ("Mallory", evil_email)
    verified = api.get(f"conversations/{secret['conversation_id']}").json()
    assert verified["meta"]["sender"]["id"] == logged_in["id"]
    assert verified["contact_inbox"]["hmac_verified"] is True
    unverified = api.get(f"conversations/{planted['conversation_id']}").json()
    assert unverified["meta"]["sender"]["id"] == claimed["id"]
    assert unverified["contact_inbox"]["hmac_verified"] is False


def test_a_visitors_anonymous_chat_does_not_become_the_verified_customers(
    api: ApiClient, backend: Backend, closing: list[Any]
) -> None:
    """Verifying in the browser that chatted anonymously starts the customer afresh: the
    anonymous chat (the last person at a shared computer, say) is not shown to them."""
    inbox = widget_inbox(api)
    identifier = f"customer-{uuid.uuid4().hex[:8]}"
    signed = {
        "identifier": identifier,
        "identifier_hash": hmac_hex(inbox["hmac_token"], identifier),
    }
    kiosk = visit(backend, inbox, closing)
    anonymous_id = kiosk.ok("GET", "contact")["id"]
    kiosk.say("written before anyone logged in")
    anonymous_token = kiosk.token

    logged_in = kiosk.ok("PATCH", "contact/set_user", json=signed)
    assert logged_in["id"] != anonymous_id
    kiosk.token = logged_in["auth_token"]
    assert kiosk.ok("GET", "messages") == {"conversation": None, "payload": []}
    kiosk.say("written as the customer")

    # The old token still reads only the anonymous chat; the anonymous contact stays apart.
    kiosk.token = anonymous_token
    assert contents(kiosk.ok("GET", "messages")["payload"]) == ["written before anyone logged in"]
    assert api.get(f"contacts/{anonymous_id}").json()["payload"]["identifier"] is None

    # Another device of the customer resumes the verified conversation.
    phone = visit(backend, inbox, closing)
    resumed = phone.ok("PATCH", "contact/set_user", json=signed)
    assert resumed["id"] == logged_in["id"]
    phone.token = resumed["auth_token"]
    assert contents(phone.ok("GET", "messages")["payload"]) == ["written as the customer"]


def test_the_public_api_identifier_flow_is_not_taken_over_either(
    api: ApiClient, backend: Backend, closing: list[Any]
) -> None:
    inbox, website = api_inbox(api), widget_inbox(api)
    identifier = f"customer-{uuid.uuid4().hex[:8]}"
    digest = hmac_hex(inbox["hmac_token"], identifier)

    # The attacker claims the identifier on both channels of the account, without a hash.
    widget_attacker = visit(backend, website, closing)
    widget_claim = widget_attacker.ok(
        "PATCH", "contact/set_user", json={"identifier": identifier, "name": "Mallory"}
    )
    attacker = PublicContact(backend.url, inbox["inbox_identifier"])
    closing.append(attacker)
    public_claim = attacker.create(identifier=identifier, name="Mallory")
    planted = attacker.ok("POST", "/conversations", json={})
    attacker.ok("POST", f"/conversations/{planted['id']}/messages", json={"content": "planted"})

    customer = PublicContact(backend.url, inbox["inbox_identifier"])
    closing.append(customer)
    made = customer.create(identifier=identifier, identifier_hash=digest, name="Real Customer")
    assert made["id"] not in (widget_claim["id"], public_claim["id"])
    assert made["name"] == "Real Customer"
    conversation = customer.ok("POST", "/conversations", json={})
    path = f"/conversations/{conversation['id']}/messages"
    customer.ok("POST", path, json={"content": "My card ends in 4242"})
    post_message(api, conversation["id"], "Refund sent to card 4242")

    listed = attacker.ok("GET", "/conversations")
    assert [c["id"] for c in listed] == [planted["id"]]
    assert "4242" not in str(listed)
    assert attacker.request("GET", path).status_code == 404
    assert contents(customer.ok("GET", path)) == [
        "My card ends in 4242",
        "Refund sent to card 4242",
    ]
    shown = api.get(f"contacts/{made['id']}").json()["payload"]
    assert (shown["identifier"], shown["name"]) == (identifier, "Real Customer")
    assert api.get(f"contacts/{public_claim['id']}").json()["payload"]["identifier"] is None

    # A second verified login is the same customer, in a contact_inbox of its own.
    again = PublicContact(backend.url, inbox["inbox_identifier"])
    closing.append(again)
    second = again.create(identifier=identifier, identifier_hash=digest)
    assert second["id"] == made["id"]
    assert second["source_id"] != made["source_id"]
    assert again.ok("GET", "/conversations") == []
