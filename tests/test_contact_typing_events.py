"""Chatwoot's events beyond the seed, end to end: contact_created and contact_updated from every
path that makes or changes a contact (REST, public client API, widget), and the typing events
of agents (toggle_typing_status), public API contacts and widget visitors (toggle_typing),
each received by a real HTTP server, for subscribers only."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.conftest import Backend
from tests.support.client import JSON, ApiClient, ok, unique_email
from tests.support.factories import (
    api_inbox,
    new_contact,
    subscribe,
    widget_inbox,
)
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until
from tests.support.widget import PublicContact, WidgetVisitor

CONTACT_EVENTS = ["contact_created", "contact_updated"]


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
    update = got[0]
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
