"""views.formats.chatwoot, in process: the voxsig bodies come from the real builders
(views/payloads.py) over model objects held in memory, each is converted, and both are checked
against the package's schemas (events/schemas.py) and field by field against Chatwoot's
shapes (docs/payload-formats.md names the Chatwoot file of each)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from voxsig.events import names, schemas
from voxsig.models import Account, Contact, ContactInbox, Conversation, Inbox, Message, User
from voxsig.views import formats
from voxsig.views.payloads import (
    account_json,
    contact_json,
    conversation_json,
    inbox_json,
    message_json,
    user_json,
)
from voxsig.views.snapshot import ConversationSnapshot, MessageSnapshot

JSON = dict[str, Any]
T0 = datetime(2026, 11, 25, 13, 40, 0, 123000, tzinfo=UTC)
T1 = datetime(2026, 11, 25, 13, 41, 5, tzinfo=UTC)
T0_UNIX, T1_UNIX = int(T0.timestamp()), int(T1.timestamp())


def world(
    *, private: bool = False, sender: str = "contact", assigned: bool = True
) -> tuple[ConversationSnapshot, MessageSnapshot]:
    account = Account(id=1, name="Acme")
    inbox = Inbox(id=2, account_id=1, name="API", channel_type="Channel::Api")
    contact = Contact(
        id=3,
        account_id=1,
        name="Bob",
        email="bob@example.com",
        phone_number=None,
        identifier="cust-7",
        avatar_url="",
        custom_attributes={"plan": "pro"},
        additional_attributes={},
    )
    link = ContactInbox(
        id=4,
        contact_id=3,
        inbox_id=2,
        source_id="src-4",
        hmac_verified=False,
        created_at=T0,
        updated_at=T0,
    )
    agent = User(id=5, name="Ada", email="ada@example.com", avatar_url="")
    conversation = Conversation(
        id=40,
        account_id=1,
        display_id=6,
        inbox_id=2,
        contact_id=3,
        contact_inbox_id=4,
        status="snoozed",
        priority="high",
        assignee_id=5 if assigned else None,
        snoozed_until=T1,
        custom_attributes={},
        additional_attributes={},
        agent_last_seen_at=None,
        contact_last_seen_at=T0,
        last_activity_at=T1,
        created_at=T0,
        updated_at=T1,
    )
    message = Message(
        id=9,
        account_id=1,
        inbox_id=2,
        conversation_id=40,
        content="Hello",
        message_type=0 if sender == "contact" else 1 if sender == "user" else 3,
        content_type="text",
        content_attributes={},
        private=private,
        source_id=None,
        status="sent",
        created_at=T0,
        updated_at=T1,
    )
    snap = MessageSnapshot(
        message,
        sender_contact=contact if sender == "contact" else None,
        sender_user=agent if sender == "user" else None,
    )
    conv = ConversationSnapshot(
        conversation,
        account,
        inbox,
        contact,
        link,
        agent if assigned else None,
        labels=["vip"],
        last_message=snap,
        unread_count=1,
    )
    return conv, snap


def message_event(name: str = names.MESSAGE_CREATED, **kw: Any) -> JSON:
    conv, snap = world(**kw)
    body = message_json(snap, conv.account, conv.inbox, conv.conversation, nested=conv)
    return {"event": name, **body}


def both(name: str, payload: JSON) -> JSON:
    """Validates the voxsig body, converts it, validates and returns the chatwoot one."""
    Draft202012Validator(schemas.schema(name, "voxsig")).validate(payload)
    before = json.dumps(payload)
    out = formats.chatwoot(name, payload)
    assert json.dumps(payload) == before, "the voxsig body was changed"
    Draft202012Validator(schemas.schema(name, "chatwoot")).validate(out)
    json.dumps(out)  # plain JSON
    return out


def test_message_event_names_its_type_and_times_at_top_level_integers_nested() -> None:
    out = both(names.MESSAGE_CREATED, message_event())
    assert out["message_type"] == "incoming"
    assert out["created_at"] == "2026-11-25T13:40:00.000Z"  # Rails' JSON of a Time
    nested = out["conversation"]["messages"][0]
    assert nested["message_type"] == 0  # message_type_before_type_cast
    assert nested["created_at"] == T0_UNIX  # created_at.to_i
    assert nested["updated_at"] == "2026-11-25T13:41:05.000Z"  # attributes: still a Time
    assert out["event"] == "message_created"
    assert list(out) == [
        "account", "additional_attributes", "content_attributes", "content_type", "content",
        "conversation", "created_at", "id", "inbox", "message_type", "private", "sender",
        "source_id", "event",
    ]  # fmt: skip


def test_message_webhook_data_leaves_out_what_chatwoot_lacks() -> None:
    out = both(names.MESSAGE_CREATED, message_event(sender="user"))
    for key in ("conversation_id", "inbox_id", "account_id", "status", "updated_at"):
        assert key not in out
    assert out["message_type"] == "outgoing"
    assert out["sender"] == {"id": 5, "name": "Ada", "email": "ada@example.com", "type": "user"}
    nested = out["conversation"]["messages"][0]
    assert nested["sender_type"] == "User"
    assert nested["sender_id"] == 5
    assert nested["sender"] == {
        "id": 5, "name": "Ada", "available_name": "Ada", "avatar_url": "", "type": "user",
        "availability_status": None, "thumbnail": "",
    }  # fmt: skip


def test_nested_message_is_push_event_data() -> None:
    nested = both(names.MESSAGE_CREATED, message_event())["conversation"]["messages"][0]
    assert list(nested) == [
        "id", "content", "account_id", "inbox_id", "conversation_id", "message_type",
        "created_at", "updated_at", "private", "status", "source_id", "content_type",
        "content_attributes", "sender_type", "sender_id", "external_source_ids",
        "additional_attributes", "processed_message_content", "sentiment", "conversation",
        "sender",
    ]  # fmt: skip
    assert nested["conversation_id"] == 6  # the display id
    assert nested["conversation"] == {
        "assignee_id": 5,
        "unread_count": 1,
        "last_activity_at": T1_UNIX,
        "contact_inbox": {"source_id": "src-4"},
    }
    assert nested["sender_type"] == "Contact"
    assert nested["sender"]["type"] == "contact"
    assert "account" not in nested["sender"]
    assert nested["processed_message_content"] == "Hello"


def test_contact_sender_is_webhook_data_without_type() -> None:
    out = both(names.MESSAGE_CREATED, message_event())
    assert out["sender"] == {
        "account": {"id": 1, "name": "Acme"},
        "additional_attributes": {},
        "avatar": "",
        "custom_attributes": {"plan": "pro"},
        "email": "bob@example.com",
        "id": 3,
        "identifier": "cust-7",
        "name": "Bob",
        "phone_number": None,
        "thumbnail": "",
        "blocked": False,
    }


def test_greeting_has_no_sender_anywhere() -> None:
    out = both(names.MESSAGE_CREATED, message_event(sender="nobody"))
    assert out["message_type"] == "template"
    assert out["sender"] is None
    nested = out["conversation"]["messages"][0]
    assert "sender" not in nested  # merge_sender_attributes adds it only when there is one
    assert nested["sender_type"] is None
    assert nested["sender_id"] is None


def test_private_note_stays_out_of_conversation_messages() -> None:
    """Chatwoot's push_messages is messages.chat.last: no private note, ever."""
    out = both(names.MESSAGE_CREATED, message_event(sender="user", private=True))
    assert out["private"] is True
    assert out["conversation"]["messages"] == []


def test_conversation_is_push_data() -> None:
    conv, _ = world()
    payload = {"event": names.CONVERSATION_CREATED, **conversation_json(conv)}
    out = both(names.CONVERSATION_CREATED, payload)
    assert list(out) == [
        "additional_attributes", "can_reply", "channel", "contact_inbox", "id", "inbox_id",
        "messages", "labels", "meta", "status", "custom_attributes", "snoozed_until",
        "unread_count", "first_reply_created_at", "priority", "waiting_since",
        "agent_last_seen_at", "contact_last_seen_at", "last_activity_at", "timestamp",
        "created_at", "updated_at", "event",
    ]  # fmt: skip
    assert out["id"] == 6
    assert out["snoozed_until"] == "2026-11-25T13:41:05.000Z"  # a Time in push_data
    assert out["agent_last_seen_at"] == 0
    assert out["contact_last_seen_at"] == T0_UNIX
    assert out["created_at"] == T0_UNIX
    assert out["timestamp"] == T1_UNIX
    assert out["updated_at"] == float(T1_UNIX)
    assert isinstance(out["updated_at"], float)
    assert out["meta"]["team"] is None
    assert out["meta"]["hmac_verified"] is False
    assert out["meta"]["sender"]["type"] == "contact"
    assert out["meta"]["assignee"]["available_name"] == "Ada"
    assert out["contact_inbox"]["created_at"] == "2026-11-25T13:40:00.123Z"
    assert out["messages"][0]["message_type"] == 0
    for key in ("account_id", "assignee_id", "contact_id"):
        assert key not in out


def test_unassigned_conversation_has_null_assignee() -> None:
    conv, _ = world(assigned=False)
    payload = {"event": names.CONVERSATION_CREATED, **conversation_json(conv)}
    out = both(names.CONVERSATION_CREATED, payload)
    assert out["meta"]["assignee"] is None
    assert out["messages"][0]["conversation"]["assignee_id"] is None


def test_changed_attributes_previous_first_times_iso() -> None:
    conv, _ = world()
    changes = [
        {"status": {"current_value": "snoozed", "previous_value": "open"}},
        {"snoozed_until": {"current_value": T1_UNIX, "previous_value": None}},
    ]
    payload = {
        "changed_attributes": changes,
        "event": names.CONVERSATION_UPDATED,
        **conversation_json(conv),
    }
    out = both(names.CONVERSATION_UPDATED, payload)
    assert out["changed_attributes"] == [
        {"status": {"previous_value": "open", "current_value": "snoozed"}},
        {"snoozed_until": {"previous_value": None, "current_value": "2026-11-25T13:41:05.000Z"}},
    ]
    assert list(out["changed_attributes"][0]["status"]) == ["previous_value", "current_value"]
    assert list(out)[-2:] == ["event", "changed_attributes"]


def test_webwidget_triggered_is_contact_inbox_webhook_data() -> None:
    conv, _ = world()
    info = {
        "initiated_at": {"timestamp": "Wed Nov 25 2026 14:40:00 GMT+0100"},
        "referer": "https://shop.example/",
        "widget_language": "de",
        "browser_language": "de",
        "browser": {"browser_name": "Firefox"},
    }
    payload = {
        "id": 4,
        "contact": contact_json(conv.contact, conv.account),
        "inbox": inbox_json(conv.inbox),
        "account": account_json(conv.account),
        "current_conversation": conversation_json(conv),
        "source_id": "src-4",
        "event": names.WEBWIDGET_TRIGGERED,
        "event_info": info,
    }
    out = both(names.WEBWIDGET_TRIGGERED, payload)
    assert list(out) == [
        "id", "contact", "inbox", "account", "current_conversation", "source_id", "event",
        "event_info",
    ]  # fmt: skip
    assert "type" not in out["contact"]
    assert out["contact"]["blocked"] is False
    assert out["current_conversation"]["waiting_since"] == 0
    assert out["event_info"] == info


@pytest.mark.parametrize("typer", ["user", "contact"])
def test_typing_is_handle_typing_status(typer: str) -> None:
    conv, _ = world()
    who = user_json(conv.assignee) if typer == "user" and conv.assignee else None
    user = who or contact_json(conv.contact, conv.account)
    payload = {
        "event": names.CONVERSATION_TYPING_ON,
        "user": user,
        "conversation": conversation_json(conv),
        "is_private": False,
    }
    out = both(names.CONVERSATION_TYPING_ON, payload)
    assert list(out) == ["event", "user", "conversation", "is_private"]
    if typer == "user":
        assert out["user"] == {"id": 5, "name": "Ada", "email": "ada@example.com", "type": "user"}
    else:
        assert out["user"]["blocked"] is False
        assert "type" not in out["user"]


def test_contact_events_are_contact_webhook_data() -> None:
    conv, _ = world()
    created = {"event": names.CONTACT_CREATED, **contact_json(conv.contact, conv.account)}
    out = both(names.CONTACT_CREATED, created)
    assert list(out)[-1] == "event"
    assert out["account"] == {"id": 1, "name": "Acme"}
    assert "type" not in out
    updated = {
        "event": names.CONTACT_UPDATED,
        "changed_attributes": [{"name": {"current_value": "Bob", "previous_value": "Bobby"}}],
        **contact_json(conv.contact, conv.account),
    }
    out = both(names.CONTACT_UPDATED, updated)
    assert out["changed_attributes"] == [
        {"name": {"previous_value": "Bobby", "current_value": "Bob"}}
    ]


def test_every_event_has_a_shape_and_both_schemas() -> None:
    for name in names.ALL:
        assert set(schemas.SCHEMAS[name]) == {"voxsig", "chatwoot"}
        for doc in schemas.SCHEMAS[name].values():
            Draft202012Validator.check_schema(doc)
    with pytest.raises(ValueError, match="no chatwoot shape"):
        formats.chatwoot("no_such_event", {})


def test_the_schemas_refuse_what_is_not_there() -> None:
    """They can fail: an extra key, a unix top-level created_at, an integer message_type."""
    out = formats.chatwoot(names.MESSAGE_CREATED, message_event())
    validator = Draft202012Validator(schemas.schema(names.MESSAGE_CREATED, "chatwoot"))
    for broken in (
        {**out, "status": "sent"},
        {**out, "created_at": T0_UNIX},
        {**out, "message_type": 0},
        {**out, "conversation": {**out["conversation"], "account_id": 1}},
    ):
        assert not validator.is_valid(broken)
    voxsig = Draft202012Validator(schemas.schema(names.MESSAGE_CREATED, "voxsig"))
    assert not voxsig.is_valid(out)


def test_the_contact_schema_names_what_contact_updated_reports() -> None:
    from voxsig.contacts.service import TRACKED

    assert tuple(TRACKED) == schemas.CONTACT_TRACKED
