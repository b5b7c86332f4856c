"""The one place that builds the JSON of each object (webhook-events.md + payloads.md).

Webhook events compose these; the REST API returns the same objects, so a field is spelled and
typed one way everywhere. Builders are pure: they take loaded rows and return dicts.
"""

from __future__ import annotations

from typing import Any

from voxsig.kit.clock import iso, unix, unix_or_none
from voxsig.models import Account, AgentBot, Contact, ContactInbox, Conversation, Inbox, User
from voxsig.views.snapshot import ConversationSnapshot, MessageSnapshot

JSON = dict[str, Any]


def account_json(account: Account) -> JSON:
    return {"id": account.id, "name": account.name}


def inbox_json(inbox: Inbox) -> JSON:
    return {"id": inbox.id, "name": inbox.name}


def user_json(user: User) -> JSON:
    return {"id": user.id, "name": user.name, "email": user.email, "type": "user"}


def bot_sender_json(bot: AgentBot) -> JSON:
    """An agent bot as a message's sender (Chatwoot's AgentBot#push_event_data)."""
    return {"id": bot.id, "name": bot.name, "avatar_url": bot.avatar_url, "type": "agent_bot"}


def contact_json(contact: Contact, account: Account) -> JSON:
    return {
        "id": contact.id,
        "name": contact.name,
        "avatar": contact.avatar_url,
        "type": "contact",
        "account": account_json(account),
        "email": contact.email,
        "phone_number": contact.phone_number,
        "identifier": contact.identifier,
        "thumbnail": contact.avatar_url,
        "custom_attributes": contact.custom_attributes or {},
        "additional_attributes": contact.additional_attributes or {},
    }


def contact_inbox_json(contact_inbox: ContactInbox) -> JSON:
    return {
        "id": contact_inbox.id,
        "contact_id": contact_inbox.contact_id,
        "inbox_id": contact_inbox.inbox_id,
        "source_id": contact_inbox.source_id,
        "created_at": iso(contact_inbox.created_at),
        "updated_at": iso(contact_inbox.updated_at),
        "hmac_verified": contact_inbox.hmac_verified,
    }


def sender_json(snap: MessageSnapshot, account: Account) -> JSON | None:
    if snap.sender_contact is not None:
        return contact_json(snap.sender_contact, account)
    if snap.sender_user is not None:
        return user_json(snap.sender_user)
    if snap.sender_bot is not None:
        return bot_sender_json(snap.sender_bot)
    return None


def message_json(
    snap: MessageSnapshot,
    account: Account,
    inbox: Inbox,
    conversation: Conversation,
    *,
    nested: ConversationSnapshot | None = None,
) -> JSON:
    """A Message object. Its `conversation` object is included when `nested` gives it (webhook
    events); inside a conversation, and in the REST API's message lists, it is left out."""
    m = snap.message
    body: JSON = {
        "id": m.id,
        "content": m.content or "",
        "message_type": m.message_type,
        "created_at": unix(m.created_at),
        "private": m.private,
        "source_id": m.source_id,
        "content_type": m.content_type,
        "content_attributes": m.content_attributes or {},
        "sender": sender_json(snap, account),
        "account": account_json(account),
        "inbox": inbox_json(inbox),
        "conversation_id": conversation.display_id,
        "inbox_id": m.inbox_id,
        "account_id": m.account_id,
        "status": m.status,
        "updated_at": unix(m.updated_at),
        "attachments": snap.attachments,
    }
    if nested is not None:
        body["conversation"] = conversation_json(nested)
    return body


def conversation_json(conv: ConversationSnapshot) -> JSON:
    """A Conversation object. `messages` holds the latest non-activity message (private notes
    included), so on message_created it is the message just created."""
    c = conv.conversation
    shown = conv.last_message
    return {
        "additional_attributes": c.additional_attributes or {},
        "can_reply": True,
        "channel": conv.inbox.channel_type,
        "id": c.display_id,
        "inbox_id": c.inbox_id,
        "contact_inbox": contact_inbox_json(conv.contact_inbox),
        "messages": [message_json(shown, conv.account, conv.inbox, c)] if shown else [],
        "meta": {
            "sender": contact_json(conv.contact, conv.account),
            "assignee": user_json(conv.assignee) if conv.assignee else None,
            "hmac_verified": conv.contact_inbox.hmac_verified,
        },
        "status": c.status,
        "unread_count": conv.unread_count,
        "agent_last_seen_at": unix(c.agent_last_seen_at),
        "contact_last_seen_at": unix(c.contact_last_seen_at),
        "timestamp": unix(c.last_activity_at),
        "account_id": c.account_id,
        # Tracked attributes, so that changed_attributes values match this object's fields.
        "assignee_id": c.assignee_id,
        "priority": c.priority,
        "snoozed_until": unix_or_none(c.snoozed_until),
        "labels": conv.labels,
        "custom_attributes": c.custom_attributes or {},
        "created_at": unix(c.created_at),
        "updated_at": unix(c.updated_at),
        "last_activity_at": unix(c.last_activity_at),
        "contact_id": c.contact_id,
    }
