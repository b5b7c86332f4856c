"""The contacts resource over real HTTP: pagination, search, duplicates, source ids, updates
and deletion."""

from __future__ import annotations

from tests.support.client import ApiClient, error, ok, unique_email
from tests.support.factories import (
    api_inbox,
    new_contact,
    post_message,
    setup_thread,
)


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
    post_message(api, conversation["id"], "Hello", message_type="incoming")
    ok(api.delete(f"contacts/{contact['id']}"))
    error(api.get(f"contacts/{contact['id']}"), 404)
    error(api.delete(f"contacts/{contact['id']}"), 404)
    error(api.get(f"conversations/{conversation['id']}"), 404)
    assert ok(api.get("contacts"))["meta"]["count"] == 0
