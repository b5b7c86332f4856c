"""Payload formats: an event's body in the shapes an endpoint asked for.

`voxsig` is the seed document's (what views/payloads.py builds); `chatwoot` is what Chatwoot's
own server sends, derived here from the voxsig body alone (a pure function: no query, no
clock), so both describe one state of the same objects. Every difference, field by field, and
the Chatwoot file each comes from: docs/payload-formats.md.

Chatwoot builds its bodies from two families of methods, and both appear in one body:
`webhook_data` (Rails' JSON of Ruby values: times ISO 8601 with milliseconds, enums by name)
and `push_event_data` (the realtime shape: times `.to_i`, `message_type` the integer). A
message event is the message's webhook_data, its `conversation` the conversation's (which is
push_data), and `conversation.messages[]` the last public message's push_event_data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from voxsig.events import names
from voxsig.kit.clock import iso
from voxsig.models.message import MESSAGE_TYPES
from voxsig.models.webhook import CHATWOOT_FORMAT, VOXSIG_FORMAT
from voxsig.views.attachments import chatwoot_attachment

JSON = dict[str, Any]
TYPE_NAMES = {number: name for name, number in MESSAGE_TYPES.items()}
MESSAGE_EVENTS = ("message_created", "message_updated")
CONVERSATION_EVENTS = (
    "conversation_created",
    "conversation_updated",
    "conversation_status_changed",
    "conversation_opened",
    "conversation_resolved",
)
TYPING_EVENTS = ("conversation_typing_on", "conversation_typing_off")
CONTACT_EVENTS = ("contact_created", "contact_updated")
# changed_attributes values that are times: unix in the voxsig body, Ruby Time (ISO) in
# Chatwoot's previous_changes.
TIME_ATTRIBUTES = frozenset({"snoozed_until"})


def _iso_of_unix(seconds: int) -> str:
    return iso(datetime.fromtimestamp(seconds, UTC))


def _iso_or_none(seconds: int | None) -> str | None:
    return None if seconds is None else _iso_of_unix(seconds)


# -- objects, as Chatwoot's models render them -------------------------------------------------


def account(a: JSON) -> JSON:
    """Account#webhook_data."""
    return {"id": a["id"], "name": a["name"]}


def inbox(i: JSON) -> JSON:
    """Inbox#webhook_data."""
    return {"id": i["id"], "name": i["name"]}


def contact_webhook(c: JSON) -> JSON:
    """Contact#webhook_data: no `type` (push_event_data has it); `blocked` (Voxsig has no
    blocking: false)."""
    return {
        "account": account(c["account"]),
        "additional_attributes": c["additional_attributes"],
        "avatar": c["avatar"],
        "custom_attributes": c["custom_attributes"],
        "email": c["email"],
        "id": c["id"],
        "identifier": c["identifier"],
        "name": c["name"],
        "phone_number": c["phone_number"],
        "thumbnail": c["thumbnail"],
        "blocked": False,
    }


def contact_push(c: JSON) -> JSON:
    """Contact#push_event_data (conversation.meta.sender, a nested message's sender)."""
    return {
        "additional_attributes": c["additional_attributes"],
        "custom_attributes": c["custom_attributes"],
        "email": c["email"],
        "id": c["id"],
        "identifier": c["identifier"],
        "name": c["name"],
        "phone_number": c["phone_number"],
        "thumbnail": c["thumbnail"],
        "blocked": False,
        "type": "contact",
    }


def user_webhook(u: JSON) -> JSON:
    """User#webhook_data."""
    return {"id": u["id"], "name": u["name"], "email": u["email"], "type": "user"}


def user_push(u: JSON) -> JSON:
    """User#push_event_data. `available_name` is the display name or the name (Voxsig has no
    display name); `availability_status` reads Current.account, which Chatwoot's asynchronous
    listeners never set, so its webhooks carry null; no avatars in Voxsig: ""."""
    return {
        "id": u["id"],
        "name": u["name"],
        "available_name": u["name"],
        "avatar_url": "",
        "type": "user",
        "availability_status": None,
        "thumbnail": "",
    }


def bot_webhook(b: JSON) -> JSON:
    """AgentBot#webhook_data."""
    return {"id": b["id"], "name": b["name"], "type": "agent_bot"}


def bot_push(b: JSON) -> JSON:
    """AgentBot#push_event_data."""
    return {"id": b["id"], "name": b["name"], "avatar_url": b["avatar_url"], "type": "agent_bot"}


def sender_webhook(s: JSON | None) -> JSON | None:
    """`sender.try(:webhook_data)`: the contact's, the user's or the bot's, null when nobody
    wrote it."""
    if s is None:
        return None
    if s.get("type") == "agent_bot":
        return bot_webhook(s)
    return contact_webhook(s) if s.get("type") == "contact" else user_webhook(s)


def _sender_push(s: JSON) -> JSON:
    if s.get("type") == "agent_bot":
        return bot_push(s)
    return contact_push(s) if s.get("type") == "contact" else user_push(s)


# Message#sender_type: the polymorphic class name.
SENDER_TYPES = {"contact": "Contact", "user": "User", "agent_bot": "AgentBot"}


def message_push(m: JSON, conversation: JSON) -> JSON:
    """Message#push_event_data: every column (`attributes`, in the table's column order) with
    created_at `.to_i`, message_type the integer and conversation_id the display id; a small
    `conversation`; `sender` only when there is one (merge_sender_attributes)."""
    sender = m.get("sender")
    body: JSON = {
        "id": m["id"],
        "content": m["content"],
        "account_id": m["account_id"],
        "inbox_id": m["inbox_id"],
        "conversation_id": m["conversation_id"],
        "message_type": m["message_type"],
        "created_at": m["created_at"],
        "updated_at": _iso_of_unix(m["updated_at"]),
        "private": m["private"],
        "status": m["status"],
        "source_id": m["source_id"],
        "content_type": m["content_type"],
        "content_attributes": m["content_attributes"],
        "sender_type": None if sender is None else SENDER_TYPES[sender["type"]],
        "sender_id": None if sender is None else sender["id"],
        "external_source_ids": {},
        "additional_attributes": {},
        "processed_message_content": m["content"],
        "sentiment": {},
        "conversation": {
            "assignee_id": conversation["assignee_id"],
            "unread_count": conversation["unread_count"],
            "last_activity_at": conversation["last_activity_at"],
            "contact_inbox": {"source_id": conversation["contact_inbox"]["source_id"]},
        },
    }
    if m["attachments"]:
        body["attachments"] = [chatwoot_attachment(a) for a in m["attachments"]]
    if sender is not None:
        body["sender"] = _sender_push(sender)
    return body


def conversation(c: JSON) -> JSON:
    """Conversation#webhook_data, i.e. Conversations::EventDataPresenter#push_data.
    `messages` is `messages.chat.last` (neither activity nor private): a private note the
    voxsig body shows there is left out. `updated_at` is `.to_f`."""
    meta = c["meta"]
    assignee = meta["assignee"]
    shown = [m for m in c["messages"] if not m["private"]]
    return {
        "additional_attributes": c["additional_attributes"],
        "can_reply": c["can_reply"],
        "channel": c["channel"],
        "contact_inbox": dict(c["contact_inbox"]),
        "id": c["id"],
        "inbox_id": c["inbox_id"],
        "messages": [message_push(m, c) for m in shown],
        "labels": list(c["labels"]),
        "meta": {
            "sender": contact_push(meta["sender"]),
            "assignee": None if assignee is None else user_push(assignee),
            "team": None,
            "hmac_verified": meta["hmac_verified"],
        },
        "status": c["status"],
        "custom_attributes": c["custom_attributes"],
        "snoozed_until": _iso_or_none(c["snoozed_until"]),
        "unread_count": c["unread_count"],
        "first_reply_created_at": None,
        "priority": c["priority"],
        "waiting_since": 0,
        "agent_last_seen_at": c["agent_last_seen_at"],
        "contact_last_seen_at": c["contact_last_seen_at"],
        "last_activity_at": c["last_activity_at"],
        "timestamp": c["timestamp"],
        "created_at": c["created_at"],
        "updated_at": float(c["updated_at"]),
    }


def message(m: JSON) -> JSON:
    """Message#webhook_data: created_at ISO, message_type the name; no status, ids of the
    inbox, account and conversation, nor updated_at; `additional_attributes` {} (Voxsig's
    messages have none); `attachments` only when there are some."""
    body: JSON = {
        "account": account(m["account"]),
        "additional_attributes": {},
        "content_attributes": m["content_attributes"],
        "content_type": m["content_type"],
        "content": m["content"],
        "conversation": conversation(m["conversation"]),
        "created_at": _iso_of_unix(m["created_at"]),
        "id": m["id"],
        "inbox": inbox(m["inbox"]),
        "message_type": TYPE_NAMES[m["message_type"]],
        "private": m["private"],
        "sender": sender_webhook(m["sender"]),
        "source_id": m["source_id"],
    }
    if m["attachments"]:
        body["attachments"] = [chatwoot_attachment(a) for a in m["attachments"]]
    return body


def changed(items: list[JSON]) -> list[JSON]:
    """BaseListener#extract_changed_attributes: `{key => {previous_value:, current_value:}}`,
    each value as the model's attribute is in JSON (times ISO)."""
    out: list[JSON] = []
    for item in items:
        ((key, change),) = item.items()
        prev, cur = change["previous_value"], change["current_value"]
        if key in TIME_ATTRIBUTES:
            prev, cur = _iso_or_none(prev), _iso_or_none(cur)
        out.append({key: {"previous_value": prev, "current_value": cur}})
    return out


def chatwoot(name: str, payload: JSON) -> JSON:
    """Chatwoot's body of event `name` (WebhookListener) from the `voxsig` one."""
    body: JSON
    if name in MESSAGE_EVENTS:
        body = {**message(payload), "event": name}
    elif name in CONVERSATION_EVENTS:
        body = {**conversation(payload), "event": name}
        if "changed_attributes" in payload:
            body["changed_attributes"] = changed(payload["changed_attributes"])
    elif name == names.WEBWIDGET_TRIGGERED:
        current = payload["current_conversation"]
        body = {
            "id": payload["id"],
            "contact": contact_webhook(payload["contact"]),
            "inbox": inbox(payload["inbox"]),
            "account": account(payload["account"]),
            "current_conversation": None if current is None else conversation(current),
            "source_id": payload["source_id"],
            "event": name,
            "event_info": payload["event_info"],
        }
    elif name in TYPING_EVENTS:
        body = {
            "event": name,
            "user": sender_webhook(payload["user"]),
            "conversation": conversation(payload["conversation"]),
            "is_private": payload["is_private"],
        }
    elif name in CONTACT_EVENTS:
        body = {**contact_webhook(payload), "event": name}
        if "changed_attributes" in payload:
            body["changed_attributes"] = changed(payload["changed_attributes"])
    else:
        raise ValueError(f"no chatwoot shape for event {name!r}")
    return body


def in_format(name: str, payload: JSON) -> Callable[[str], JSON]:
    """The event's body in a given format, for outbox.publish (computed only if asked)."""

    def render(payload_format: str) -> JSON:
        if payload_format == CHATWOOT_FORMAT:
            return chatwoot(name, payload)
        assert payload_format == VOXSIG_FORMAT, payload_format
        return payload

    return render
