"""Chatwoot's events beyond the seed, end to end: contact_created and contact_updated from every
path that makes or changes a contact (REST, public client API, widget), and the typing events
of agents (toggle_typing_status), public API contacts and widget visitors (toggle_typing),
each received by a real HTTP server, for subscribers only."""

from __future__ import annotations

import time
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from tests.conftest import Backend
from tests.support.client import JSON, ApiClient, error, fields_of, ok, unique_email
from tests.support.factories import (
    api_inbox,
    create_conversation,
    new_contact,
    post_message,
    subscribe,
    widget_inbox,
)
from tests.support.receiver import Received, Receiver
from tests.support.waiting import wait_until
from tests.support.widget import PublicContact, WidgetVisitor

CONTACT_EVENTS = ["contact_created", "contact_updated"]
TYPING_EVENTS = ["conversation_typing_on", "conversation_typing_off"]


def settled(api: ApiClient, receiver: Receiver, path: str, since: int) -> list[JSON]:
    """What arrived at `path` from request number `since` until a sentinel contact's
    contact_created (made after the action under test), the sentinel left out."""
    marker = f"sentinel-{time.monotonic_ns()}"
    new_contact(api, name=marker)

    def arrived() -> bool:
        return any(r.json().get("name") == marker for r in receiver.requests(path)[since:])

    wait_until(arrived, 10, lambda: "the sentinel contact_created never arrived", step=0.02)
    time.sleep(0.3)
    return [r.json() for r in receiver.requests(path)[since:] if r.json().get("name") != marker]


def updates(api: ApiClient, receiver: Receiver) -> list[JSON]:
    return [p for p in settled(api, receiver, "/contacts", 0) if p["event"] == "contact_updated"]


def valid(payload: JSON, payload_format: str = "voxsig") -> JSON:
    """The payload, checked against the schema Voxsig serves for its event and format."""
    from voxsig.events.schemas import schema

    Draft202012Validator(schema(payload["event"], payload_format)).validate(payload)
    return payload


def changed(payload: JSON) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for item in payload["changed_attributes"]:
        merged.update(item)
    return merged


def test_contact_created_from_every_path_once(
    api: ApiClient, receiver: Receiver, backend: Backend, anon: httpx.Client
) -> None:
    subscribe(api, receiver, "/contacts", CONTACT_EVENTS)
    subscribe(api, receiver, "/seed")  # the seed's six events only: no contact event
    api_box = api_inbox(api)
    web_box = widget_inbox(api)

    email = unique_email("rest")
    rest = new_contact(api, api_box["id"], name="Rita Rest", email=email)["contact"]
    public = PublicContact(backend.url, api_box["inbox_identifier"])
    made = public.create(name="Pat Public")
    visitor = WidgetVisitor(backend.url, web_box["website_token"]).start()
    public.close()
    visitor.close()

    created = settled(api, receiver, "/contacts", 0)
    assert [p["event"] for p in created] == ["contact_created"] * 3, created
    by_id = {p["id"]: p for p in created}
    assert by_id[rest["id"]]["name"] == "Rita Rest"
    assert by_id[rest["id"]]["email"] == email
    assert by_id[made["id"]]["name"] == "Pat Public"
    assert by_id[visitor.config["contact"]["id"]]["name"].startswith("Visitor ")
    for payload in created:
        valid(payload)
        assert payload["type"] == "contact"
        assert payload["account"] == {"id": api.account_id, "name": payload["account"]["name"]}
        for key in ("avatar", "thumbnail", "phone_number", "identifier"):
            assert key in payload
        assert isinstance(payload["custom_attributes"], dict)
        assert isinstance(payload["additional_attributes"], dict)
    assert not [r for r in receiver.requests("/seed") if r.json()["event"] in CONTACT_EVENTS]


def test_contact_updated_names_what_changed_and_only_then(
    api: ApiClient, receiver: Receiver, backend: Backend
) -> None:
    subscribe(api, receiver, "/contacts", CONTACT_EVENTS)
    box = api_inbox(api)
    contact = new_contact(api, box["id"], name="Bob", custom_attributes={"plan": "free"})
    contact_id = contact["contact"]["id"]

    email = unique_email("bob")
    ok(
        api.patch(
            f"contacts/{contact_id}",
            json={"name": "Bob Buyer", "email": email, "custom_attributes": {"plan": "pro"}},
        )
    )
    # The same values again: nothing changed, no event.
    ok(api.put(f"contacts/{contact_id}", json={"name": "Bob Buyer", "email": email}))
    got = updates(api, receiver)
    assert len(got) == 1, got
    update = valid(got[0])
    assert update["event"] == "contact_updated"
    assert update["id"] == contact_id
    assert update["name"] == "Bob Buyer"
    assert changed(update) == {
        "name": {"current_value": "Bob Buyer", "previous_value": "Bob"},
        "email": {"current_value": email, "previous_value": None},
        "custom_attributes": {
            "current_value": {"plan": "pro"},
            "previous_value": {"plan": "free"},
        },
    }


def test_contact_updated_from_the_public_api_and_the_widget(
    api: ApiClient, receiver: Receiver, backend: Backend
) -> None:
    subscribe(api, receiver, "/contacts", CONTACT_EVENTS)
    public = PublicContact(backend.url, api_inbox(api)["inbox_identifier"])
    made = public.create(name="Pat")
    public.ok("PATCH", json={"name": "Pat Public", "custom_attributes": {"vip": True}})
    public.ok("PATCH", json={"name": "Pat Public"})  # unchanged

    visitor = WidgetVisitor(backend.url, widget_inbox(api)["website_token"]).start()
    visitor.ok("PATCH", "contact", json={"custom_attributes": {"cart": 3}})
    visitor.ok("PATCH", "contact", json={"custom_attributes": {"cart": 3}})  # unchanged
    visitor.ok("POST", "contact/destroy_custom_attributes", json={"custom_attributes": ["cart"]})
    public.close()
    visitor.close()

    got = updates(api, receiver)
    assert len(got) == 3, got
    public_update = next(p for p in got if p["id"] == made["id"])
    assert changed(public_update) == {
        "name": {"current_value": "Pat Public", "previous_value": "Pat"},
        "custom_attributes": {"current_value": {"vip": True}, "previous_value": {}},
    }
    widget_events = [p for p in got if p["id"] != made["id"]]
    assert {p["id"] for p in widget_events} == {visitor.config["contact"]["id"]}
    assert sorted((changed(p) for p in widget_events), key=str) == sorted(
        [
            {"custom_attributes": {"current_value": {"cart": 3}, "previous_value": {}}},
            {"custom_attributes": {"current_value": {}, "previous_value": {"cart": 3}}},
        ],
        key=str,
    )


def typing_of(receiver: Receiver, path: str, count: int) -> list[JSON]:
    got: list[Received] = receiver.wait_for(count, path)
    return [r.json() for r in got]


def test_agent_typing_on_and_off_with_is_private(api: ApiClient, receiver: Receiver) -> None:
    subscribe(api, receiver, "/typing", TYPING_EVENTS)
    subscribe(api, receiver, "/seed")
    box = api_inbox(api)
    contact = new_contact(api, box["id"], name="Bob")["contact"]
    conversation = create_conversation(api, box["id"], contact["id"])
    number = conversation["id"]

    path = f"conversations/{number}/toggle_typing_status"
    response = api.post(path, json={"typing_status": "on"})
    assert response.status_code == 200
    assert response.content == b""
    ok(api.post(path, json={"typing_status": "off", "is_private": True}))
    got = typing_of(receiver, "/typing", 2)
    post_message(api, number, "after typing")
    receiver.wait_for(2, "/seed")
    time.sleep(0.3)
    assert len(receiver.requests("/typing")) == 2
    on, off = got
    assert on["event"] == "conversation_typing_on"
    assert off["event"] == "conversation_typing_off"
    assert on["is_private"] is False
    assert off["is_private"] is True
    for payload in got:
        valid(payload)
        assert payload["user"]["id"] == api.user_id
        assert payload["user"]["type"] == "user"
        assert payload["conversation"]["id"] == number
        assert payload["conversation"]["meta"]["sender"]["id"] == contact["id"]
    # Not for the seed's subscriber; and nothing was stored: no activity, no update.
    seed = [r.json()["event"] for r in receiver.requests("/seed")]
    assert seed == ["conversation_created", "message_created"]


def test_agent_typing_refusals(api: ApiClient, make_account: Any, backend: Backend) -> None:
    box = api_inbox(api)
    contact = new_contact(api, box["id"], name="Bob")["contact"]
    number = create_conversation(api, box["id"], contact["id"])["id"]
    path = f"conversations/{number}/toggle_typing_status"
    assert fields_of(error(api.post(path, json={"typing_status": "maybe"}), 422)) == [
        "typing_status"
    ]
    assert fields_of(error(api.post(path, json={}), 422)) == ["typing_status"]
    bad = api.post(path, json={"typing_status": "on", "is_private": "perhaps"})
    assert fields_of(error(bad, 422)) == ["is_private"]
    other = make_account()
    assert other.post(path, json={"typing_status": "on"}).status_code == 404
    anonymous = httpx.post(f"{backend.url}{api.path(path)}", json={"typing_status": "on"})
    assert anonymous.status_code == 401


def test_contact_typing_from_the_public_api_and_the_widget(
    api: ApiClient, receiver: Receiver, backend: Backend
) -> None:
    subscribe(api, receiver, "/typing", TYPING_EVENTS)
    public = PublicContact(backend.url, api_inbox(api)["inbox_identifier"])
    made = public.create(name="Pat")
    number = public.ok("POST", "/conversations", json={})["id"]
    public.ok("POST", f"/conversations/{number}/toggle_typing", json={"typing_status": "on"})
    wrong = public.request("POST", f"/conversations/{number}/toggle_typing", json={})
    assert fields_of(error(wrong, 422)) == ["typing_status"]
    assert (
        public.request(
            "POST", f"/conversations/{number + 1000}/toggle_typing", json={"typing_status": "on"}
        ).status_code
        == 404
    )

    visitor = WidgetVisitor(backend.url, widget_inbox(api)["website_token"]).start()
    before = visitor.request("POST", "conversations/toggle_typing", json={"typing_status": "on"})
    assert before.status_code == 404  # no conversation yet, as in Chatwoot
    visitor.say("Hello")
    visitor.ok("POST", "conversations/toggle_typing", json={"typing_status": "off"})
    stranger = WidgetVisitor(backend.url, visitor.website_token)
    refused = stranger.request("POST", "conversations/toggle_typing", json={"typing_status": "on"})
    assert refused.status_code == 401
    public.close()
    visitor.close()
    stranger.close()

    on, off = (valid(p) for p in typing_of(receiver, "/typing", 2))
    time.sleep(0.3)
    assert len(receiver.requests("/typing")) == 2
    assert on["event"] == "conversation_typing_on"
    assert on["user"]["id"] == made["id"]
    assert on["user"]["type"] == "contact"
    assert on["conversation"]["id"] == number
    assert on["is_private"] is False
    assert off["event"] == "conversation_typing_off"
    assert off["user"]["type"] == "contact"
    assert off["user"]["name"].startswith("Visitor ")
    assert off["conversation"]["meta"]["sender"]["id"] == off["user"]["id"]
    assert off["is_private"] is False


def test_strangers_typing_is_rate_limited(api: ApiClient, backend: Backend) -> None:
    visitor = WidgetVisitor(backend.url, widget_inbox(api)["website_token"]).start()
    visitor.say("Hello")
    statuses = [
        visitor.request(
            "POST", "conversations/toggle_typing", json={"typing_status": "on"}
        ).status_code
        for _ in range(40)
    ]
    visitor.close()
    assert statuses[0] == 200
    assert 429 in statuses
    public = PublicContact(backend.url, api_inbox(api)["inbox_identifier"])
    public.create(name="Pat")
    number = public.ok("POST", "/conversations", json={})["id"]
    answers = [
        public.request(
            "POST", f"/conversations/{number}/toggle_typing", json={"typing_status": "off"}
        )
        for _ in range(40)
    ]
    public.close()
    assert answers[0].status_code == 200
    limited = [a for a in answers if a.status_code == 429]
    assert limited
    assert "retry-after" in limited[0].headers


def test_chatwoot_format_endpoints_get_them_in_chatwoot_shape(
    api: ApiClient, receiver: Receiver
) -> None:
    body = {
        "url": receiver.url("/cw"),
        "subscriptions": CONTACT_EVENTS + TYPING_EVENTS,
        "payload_format": "chatwoot",
    }
    ok(api.post("webhooks", json=body))
    box = api_inbox(api)
    contact = new_contact(api, box["id"], name="Carla")["contact"]
    ok(api.patch(f"contacts/{contact['id']}", json={"name": "Carla Chat"}))
    number = create_conversation(api, box["id"], contact["id"])["id"]
    ok(api.post(f"conversations/{number}/toggle_typing_status", json={"typing_status": "on"}))
    got = [r.json() for r in receiver.wait_for(3, "/cw")]
    assert sorted(p["event"] for p in got) == sorted(
        ["contact_created", "contact_updated", "conversation_typing_on"]
    )
    for payload in got:
        valid(payload, "chatwoot")
