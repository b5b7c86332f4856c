"""What strangers can do with the public client API and the widget (issue 11, findings 8 and
12): no answer tells whether an e-mail, phone or identifier belongs to a customer; one address
cannot create contacts by the thousand; only questions take submitted_values, once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.server import VoxsigServer
from tests.conftest import Backend
from tests.support.client import ApiClient, create_account, unique_email
from tests.support.factories import api_inbox, post_message, subscribe, widget_inbox
from tests.support.receiver import Receiver
from tests.support.widget import PublicContact, WidgetVisitor, unique_ip

JSON = dict[str, Any]
NEW_CONTACTS_BURST = 100  # voxsig.public.limits.NEW_CONTACTS


def unique_phone() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


def customer(api: ApiClient) -> JSON:
    """A customer the agents know: e-mail, phone and identifier."""
    body = {
        "name": "Known Customer",
        "email": unique_email("known"),
        "phone_number": unique_phone(),
        "identifier": f"customer-{uuid.uuid4().hex[:8]}",
    }
    response = api.post("contacts", json=body)
    assert response.status_code == 200, response.text
    return body


def shape(response: Any) -> tuple[int, list[str]]:
    return response.status_code, sorted(response.json())


# -- finding 8: enumeration ---------------------------------------------------------------------


def test_public_contacts_answer_alike_for_a_customers_email_or_phone_and_a_free_one(
    api: ApiClient, backend: Backend, closing: list[Any]
) -> None:
    known, inbox = customer(api), api_inbox(api)
    free = {"email": unique_email("free"), "phone_number": unique_phone()}
    for field in ("email", "phone_number"):
        answers = []
        for value in (known[field], free[field]):
            stranger = PublicContact(backend.url, inbox["inbox_identifier"])
            closing.append(stranger)
            created = stranger.request("POST", json={"name": "Eve", field: value})
            assert created.status_code == 200, created.text
            assert created.json()[field] == value  # kept as given, either way
            updated = stranger.request("PATCH", f"/{created.json()['source_id']}", json={})
            answers.append((shape(created), shape(updated), updated.json()[field] == value))
        assert answers[0] == answers[1], field
    # The customer is untouched, and agents can still give the free values to a customer.
    listed = api.get("contacts/search", params={"q": known["email"]}).json()["payload"]
    mine = [c for c in listed if c["name"] == "Known Customer"]
    assert [c["phone_number"] for c in mine] == [known["phone_number"]]
    agent_made = api.post("contacts", json={"name": "Later", **free})
    assert agent_made.status_code == 200, agent_made.text


def test_widget_contact_answers_alike_for_a_customers_email_phone_identifier_and_free_ones(
    api: ApiClient, backend: Backend, closing: list[Any]
) -> None:
    known, inbox = customer(api), widget_inbox(api)
    free = {
        "email": unique_email("free"),
        "phone_number": unique_phone(),
        "identifier": f"free-{uuid.uuid4().hex[:8]}",
    }
    for field in ("email", "phone_number", "identifier"):
        answers = []
        for value in (known[field], free[field]):
            visitor = WidgetVisitor(backend.url, inbox["website_token"]).start()
            closing.append(visitor)
            if field == "identifier":
                answer = visitor.request("PATCH", "contact/set_user", json={field: value})
                body = answer.json()
                body.pop("auth_token")
            else:
                answer = visitor.request("PATCH", "contact", json={field: value})
                body = answer.json()
            assert answer.status_code == 200, answer.text
            assert body[field] == value
            again = visitor.ok("GET", "contact")
            answers.append((answer.status_code, sorted(body), again[field] == value))
        assert answers[0] == answers[1], field
    # The visitor's word is on the visitor's contact; the customer still has theirs alone.
    shown = api.get("contacts/search", params={"q": known["identifier"]}).json()["payload"]
    customers = [c for c in shown if c["name"] == "Known Customer"]
    assert [c["email"] for c in customers] == [known["email"]]


# -- finding 8: rate limits ---------------------------------------------------------------------


@pytest.fixture
def own_server(backend: Backend, tmp_path: Path) -> Iterator[tuple[str, ApiClient]]:
    """A Voxsig of its own (URL and an account's administrator): the buckets are per process,
    so exhausting them here leaves every other test's alone. It trusts X-Forwarded-For from
    127.0.0.1, so each test's requests can come from an address of their own."""
    database = f"voxsig_limits_{uuid.uuid4().hex[:10]}"
    if backend.cluster is not None:
        url = backend.cluster.create_database(database)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'voxsig.db'}"
    server = VoxsigServer(url, tmp_path, extra_env={"VOXSIG_TRUSTED_PROXIES": "127.0.0.1"})
    try:
        server.start()
        made = create_account(url, "Limits", unique_email())
        api = ApiClient(server.url, made)
        yield server.url, api
        api.close()
    finally:
        server.stop()
        if backend.cluster is not None:
            backend.cluster.drop_database(database)


def test_a_burst_of_new_contacts_from_one_address_is_refused_with_retry_after(
    own_server: tuple[str, ApiClient], closing: list[Any]
) -> None:
    url, api = own_server
    inbox, website = api_inbox(api), widget_inbox(api)
    address = unique_ip()
    stranger = PublicContact(url, inbox["inbox_identifier"], ip=address)
    closing.append(stranger)
    statuses: list[int] = []
    started = time.monotonic()
    limited = None
    for n in range(NEW_CONTACTS_BURST + 50):
        response = stranger.request("POST", json={"name": f"Bot {n}"})
        statuses.append(response.status_code)
        if response.status_code == 429:
            limited = response
            break
    took = time.monotonic() - started
    assert limited is not None, f"{len(statuses)} creations in {took:.1f} s, none refused"
    assert set(statuses[:-1]) == {200}
    # The burst, plus what refilled (1 a second) while the loop ran.
    assert NEW_CONTACTS_BURST <= len(statuses) - 1 <= NEW_CONTACTS_BURST + took + 2
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"] == "rate_limited"
    # The widget's new visitors come out of the same allowance; known visitors are not refused.
    refused = WidgetVisitor(url, website["website_token"], ip=address)
    closing.append(refused)
    # (One contact a second refills: a slow machine may have earned one since the last 429.)
    tries = [refused.request("POST", "config") for _ in range(3)]
    blocked = [r for r in tries if r.status_code == 429]
    assert blocked, [r.status_code for r in tries]
    assert int(blocked[0].headers["retry-after"]) >= 1
    elsewhere = PublicContact(url, inbox["inbox_identifier"])
    closing.append(elsewhere)
    assert elsewhere.request("POST", json={"name": "Other address"}).status_code == 200


def test_public_api_reads_are_limited_per_address_before_the_database(
    own_server: tuple[str, ApiClient], closing: list[Any]
) -> None:
    """The per-address bucket (the widget's numbers: 600, then 10 a second) answers 429 even
    for an inbox that does not exist, so a flood costs no query."""
    stranger = PublicContact(own_server[0], "no-such-inbox")
    closing.append(stranger)
    statuses: list[int] = []
    response = None
    while 429 not in statuses and len(statuses) < 3000:
        response = stranger.request("GET", "/x")
        statuses.append(response.status_code)
    assert statuses[0] == 404
    assert 429 in statuses
    assert statuses.index(429) >= 600
    # The 429 itself, not a later request: the bucket refills 10 a second, so on a loaded
    # machine the next request may already find a token.
    assert response is not None
    assert int(response.headers["retry-after"]) >= 1


# -- finding 12: submitted_values ---------------------------------------------------------------


def refused_field(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    return [e["field"] for e in response.json()["errors"]]


def test_widget_visitors_answer_only_questions_and_only_once(
    api: ApiClient, backend: Backend, closing: list[Any], receiver: Receiver
) -> None:
    inbox = widget_inbox(api)
    visitor = WidgetVisitor(backend.url, inbox["website_token"]).start()
    closing.append(visitor)
    own = visitor.say("Which plan should I take?")
    conversation_id = own["conversation_id"]
    subscribe(api, receiver, "/updated", ["message_updated"])
    plain = post_message(api, conversation_id, "The pro plan, I would say")
    bare_cards = post_message(
        api, conversation_id, "Plans", content_type="cards", content_attributes={"items": [{}]}
    )
    question = post_message(
        api,
        conversation_id,
        "Which plan?",
        content_type="input_select",
        content_attributes={"items": [{"title": "Pro", "value": "pro"}]},
    )
    cards = post_message(
        api,
        conversation_id,
        "Pick one",
        content_type="cards",
        content_attributes={
            "items": [{"title": "Pro", "actions": [{"type": "postback", "payload": "pro"}]}]
        },
    )
    answer = {"submitted_values": [{"title": "Pro", "value": "pro"}]}
    for message in (plain, own, bare_cards):
        refused = visitor.request("PATCH", f"messages/{message['id']}", json=answer)
        assert refused_field(refused) == ["submitted_values"]
    for message in (question, cards):
        taken = visitor.ok("PATCH", f"messages/{message['id']}", json=answer)
        assert taken["content_attributes"]["submitted_values"] == answer["submitted_values"]
        again = visitor.request(
            "PATCH", f"messages/{message['id']}", json={"submitted_values": [{"value": "x"}]}
        )
        assert refused_field(again) == ["submitted_values"]
    updated = receiver.wait_for(2, "/updated")
    time.sleep(1.0)  # a refused answer's event would have had the time to arrive
    assert sorted(r.json()["id"] for r in receiver.requests("/updated")) == sorted(
        [question["id"], cards["id"]]
    )
    assert all(r.json()["content_attributes"]["submitted_values"] for r in updated)
    shown = api.get(f"conversations/{conversation_id}/messages").json()["payload"]
    by_id = {m["id"]: m for m in shown}
    assert "submitted_values" not in by_id[plain["id"]]["content_attributes"]
    assert by_id[question["id"]]["content_attributes"]["submitted_values"] == [
        {"title": "Pro", "value": "pro"}
    ]


def test_public_contacts_answer_only_questions_and_only_once(
    api: ApiClient, backend: Backend, closing: list[Any], receiver: Receiver
) -> None:
    inbox = api_inbox(api)
    contact = PublicContact(backend.url, inbox["inbox_identifier"])
    closing.append(contact)
    contact.create(name="Pat")
    conversation = contact.ok("POST", "/conversations", json={})
    base = f"/conversations/{conversation['id']}/messages"
    subscribe(api, receiver, "/public-updated", ["message_updated"])
    plain = post_message(api, conversation["id"], "Thanks for writing")
    question = post_message(api, conversation["id"], "Your e-mail?", content_type="input_email")
    answer = {"submitted_values": {"email": "pat@example.org"}}
    refused = contact.request("PATCH", f"{base}/{plain['id']}", json=answer)
    assert refused_field(refused) == ["submitted_values"]
    contact.ok("PATCH", f"{base}/{question['id']}", json=answer)
    twice = contact.request("PATCH", f"{base}/{question['id']}", json=answer)
    assert refused_field(twice) == ["submitted_values"]
    receiver.wait_for(1, "/public-updated")
    time.sleep(1.0)
    assert [r.json()["id"] for r in receiver.requests("/public-updated")] == [question["id"]]
