"""The Widget API's identity verification over HTTP: set_user with and without a valid
identifier hash, and which customer a visitor resumes."""

from __future__ import annotations

import uuid

from tests.conftest import Backend
from tests.support.client import JSON, ApiClient
from tests.support.factories import widget_inbox
from tests.support.widget import WidgetVisitor, visit
from voxsig.kit.signatures import hmac_hex


def test_set_user_with_a_valid_hash_verifies_and_a_wrong_one_is_refused(
    api: ApiClient, backend: Backend, visitors: list[WidgetVisitor]
) -> None:
    inbox = widget_inbox(api, hmac_mandatory=True)
    visitor = visit(backend, inbox, visitors)
    identifier = f"user-{uuid.uuid4().hex[:8]}"
    good = hmac_hex(inbox["hmac_token"], identifier)
    for bad in ({}, {"identifier_hash": "0" * 64}, {"identifier_hash": hmac_hex("x", identifier)}):
        refused = visitor.request(
            "PATCH", "contact/set_user", json={"identifier": identifier, "name": "Eve", **bad}
        )
        assert refused.status_code == 401, refused.text
    assert visitor.ok("GET", "contact")["identifier"] is None
    accepted = visitor.ok(
        "PATCH",
        "contact/set_user",
        json={"identifier": identifier, "identifier_hash": good, "name": "Jo", "email": "j@x.io"},
    )
    assert (accepted["identifier"], accepted["hmac_verified"]) == (identifier, True)
    assert (accepted["name"], accepted["email"]) == ("Jo", "j@x.io")
    # The customer's own contact and contact_inbox, not the anonymous visitor's (see
    # test_visitor_identity.py): the answer carries the token to keep.
    assert accepted["id"] != visitor.config["contact"]["id"]
    visitor.token = accepted["auth_token"]
    conversation_id = visitor.say("hello")["conversation_id"]
    agent_view = api.get(f"conversations/{conversation_id}").json()
    assert agent_view["contact_inbox"]["hmac_verified"] is True


def test_a_verified_identifier_resumes_the_customer_an_unverified_one_does_not(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    identifier = f"customer-{uuid.uuid4().hex[:8]}"
    signed = {
        "identifier": identifier,
        "identifier_hash": hmac_hex(inbox["hmac_token"], identifier),
    }
    laptop = visit(backend, inbox, visitors)
    logged_in = laptop.ok("PATCH", "contact/set_user", json=signed)
    customer_id, laptop.token = logged_in["id"], logged_in["auth_token"]
    laptop.say("written on my laptop")

    claimant = visit(backend, inbox, visitors)  # knows the identifier, not the hash
    claimed = claimant.ok("PATCH", "contact/set_user", json={"identifier": identifier})
    assert claimed["id"] != customer_id
    # Only a label on the claimant's own anonymous contact, as for a free identifier.
    assert (claimed["identifier"], claimed["hmac_verified"]) == (identifier, False)
    assert claimant.messages()["payload"] == []
    with_wrong_hash = {"identifier": identifier, "identifier_hash": "f" * 64}
    assert claimant.request("PATCH", "contact/set_user", json=with_wrong_hash).status_code == 401

    phone = visit(backend, inbox, visitors)
    anonymous_id = phone.config["contact"]["id"]
    resumed = phone.ok("PATCH", "contact/set_user", json={**signed, "name": "Sam"})
    assert (resumed["id"], resumed["hmac_verified"], resumed["name"]) == (customer_id, True, "Sam")
    assert resumed["auth_token"] != phone.token
    phone.token = resumed["auth_token"]
    assert [m["content"] for m in phone.messages()["payload"]] == ["written on my laptop"]
    # The anonymous contact of the phone never wrote: it is not left behind.
    assert api.get(f"contacts/{anonymous_id}").status_code == 404


def test_unverified_set_user_and_custom_attributes(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    identifier = f"u-{uuid.uuid4().hex[:8]}"
    contact = visitor.ok(
        "PATCH", "contact/set_user", json={"identifier": identifier, "name": "Kim"}
    )
    assert (contact["identifier"], contact["hmac_verified"], contact["name"]) == (
        identifier,
        False,
        "Kim",
    )
    visitor.ok("PATCH", "contact", json={"custom_attributes": {"plan": "pro"}})
    visitor.ok("PATCH", "contact", json={"custom_attributes": {"seats": 3}})
    agent_view = api.get(f"contacts/{contact['id']}").json()["payload"]
    assert agent_view["custom_attributes"] == {"plan": "pro", "seats": 3}
    taken = api.post("contacts", json={"name": "Other", "email": f"{identifier}@x.io"}).json()
    assert taken["payload"]["contact"]["email"] == f"{identifier}@x.io"
    kept = visitor.ok("PATCH", "contact", json={"email": f"{identifier}@x.io", "name": "Kim K"})
    # Another contact's e-mail is kept as given (the answer tells nothing), on this contact only.
    assert (kept["email"], kept["name"]) == (f"{identifier}@x.io", "Kim K")
    other = api.get(f"contacts/{taken['payload']['contact']['id']}").json()["payload"]
    assert other["name"] == "Other"
