"""The messages resource over real HTTP: kinds of message, validation, order and paging, edits
and deletion, and which conversation a message belongs to."""

from __future__ import annotations

from tests.support.client import ApiClient, error, fields_of, ok
from tests.support.factories import (
    INCOMING,
    OUTGOING,
    activity_of,
    create_conversation,
    messages_of,
    post_message,
    setup_thread,
)

DELETED = "This message was deleted"


def test_create_outgoing_incoming_and_private_messages(api: ApiClient) -> None:
    _, contact, conversation = setup_thread(api)
    cid = conversation["id"]
    out = post_message(api, cid, "Hello Bob")
    assert (out["content"], out["message_type"], out["private"]) == ("Hello Bob", OUTGOING, False)
    assert out["sender"]["id"] == api.user_id
    assert (out["conversation_id"], out["account_id"]) == (cid, api.account_id)
    inc = post_message(api, cid, "Hi, my order?", message_type="incoming")
    assert inc["message_type"] == INCOMING
    assert (inc["sender"]["id"], inc["sender"]["type"]) == (contact["id"], "contact")
    note = post_message(api, cid, "Check the refund", private=True)
    assert (note["message_type"], note["private"]) == (OUTGOING, True)
    assert note["sender"]["id"] == api.user_id
    by_number = post_message(api, cid, "As a number", message_type=0)
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
    ids = [post_message(api, cid, f"message {n}")["id"] for n in range(25)]
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
    first = post_message(api, cid, "Helo")
    second = post_message(api, cid, "Wrong chat")
    third = post_message(api, cid, "Typo herr")
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
    second = create_conversation(api, inbox["id"], contact["id"])
    message = post_message(api, second["id"], "In the second conversation")
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
    post_message(api, cid, "Following up (outgoing)")
    assert ok(api.get(f"conversations/{cid}"))["status"] == "resolved"
    post_message(api, cid, "One more question", message_type="incoming")
    assert ok(api.get(f"conversations/{cid}"))["status"] == "open"
    assert activity_of(api, cid) == [
        "Conversation was resolved by Ada Admin",
        "Conversation was reopened by Bob Buyer",
    ]
