"""Message rules: who may send what, and what a new message does to its conversation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.conversations.changes import Actor, apply_changes, touch
from voxsig.conversations.creation import first_status
from voxsig.errors import Invalid, NotFound
from voxsig.events import emit
from voxsig.kit import json_limits
from voxsig.kit.clock import utcnow
from voxsig.models import Attachment, Contact, Conversation, Inbox, Message
from voxsig.models.message import (
    ACTIVITY,
    CONTENT_TYPES,
    DELETED_CONTENT,
    INCOMING,
    MAX_CONTENT,
    OUTGOING,
    TEMPLATE,
)

PAGE_SIZE = 20
# Content types whose message is a question to answer, so they need no text.
INTERACTIVE = ("input_select", "input_email", "form", "cards", "input_csat", "article")


async def create_message(
    session: AsyncSession,
    conversation: Conversation,
    actor: Actor,
    *,
    content: str | None,
    message_type: int,
    private: bool = False,
    content_type: str = "text",
    content_attributes: dict[str, Any] | None = None,
    source_id: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> Message:
    """`attachments`: rows for the message's files, already in the store (attachments.py)."""
    check_message(content, message_type, content_type, content_attributes, bool(attachments))
    if message_type == INCOMING:
        private = False
        if actor.contact is None:
            actor = Actor(contact=await session.get(Contact, conversation.contact_id))
    now = utcnow()
    message = Message(
        account_id=conversation.account_id,
        inbox_id=conversation.inbox_id,
        conversation_id=conversation.id,
        content=content,
        message_type=message_type,
        private=private,
        content_type=content_type,
        content_attributes=content_attributes or {},
        source_id=source_id,
        created_at=now,
        updated_at=now,
        sender_contact_id=actor.contact.id if message_type == INCOMING and actor.contact else None,
        sender_user_id=actor.user.id if message_type != INCOMING and actor.user else None,
        sender_agent_bot_id=actor.bot.id if message_type != INCOMING and actor.bot else None,
        attachments=list(attachments),
    )
    session.add(message)
    touch(conversation, now)
    if message_type == INCOMING:
        if actor.contact is not None:
            actor.contact.last_activity_at = now
        # A customer writing again reopens a resolved or snoozed conversation, as in Chatwoot:
        # a resolved one goes back to the inbox's bot first, if it has one.
        if conversation.status == "snoozed":
            await apply_changes(session, conversation, actor, {"status": "open"})
        elif conversation.status == "resolved":
            inbox = await session.get(Inbox, conversation.inbox_id)
            reopened = await first_status(session, inbox) if inbox else "open"
            await apply_changes(session, conversation, actor, {"status": reopened})
    await session.flush()
    await emit.message_created(session, message, conversation)
    return message


async def greet(session: AsyncSession, conversation: Conversation, inbox: Inbox) -> Message | None:
    """The inbox's greeting, when it has one, as the first message of a conversation a contact
    starts: a real message (Chatwoot's template message: `message_type` 3, written by no one,
    so `sender` is null), in the agents' thread, the contact's history and `message_created`."""
    if not inbox.greeting_enabled or not inbox.greeting_message.strip():
        return None
    now = utcnow()
    message = Message(
        account_id=conversation.account_id,
        inbox_id=conversation.inbox_id,
        conversation_id=conversation.id,
        content=inbox.greeting_message,
        message_type=TEMPLATE,
        created_at=now,
        updated_at=now,
        attachments=[],
    )
    session.add(message)
    touch(conversation, now)
    await session.flush()
    await emit.message_created(session, message, conversation)
    return message


def check_message(
    content: str | None,
    message_type: int,
    content_type: str = "text",
    content_attributes: dict[str, Any] | None = None,
    has_files: bool = False,
) -> None:
    """The rules of a new message, whichever way it comes (REST, public client API, widget,
    dashboard composer): the request models say the same, but not every path has one. A
    message with files needs no text."""
    if message_type == ACTIVITY:
        raise Invalid("Activity messages are written by Voxsig itself", field="message_type")
    if message_type not in (INCOMING, OUTGOING):
        raise Invalid("must be 'incoming' or 'outgoing' (or 0 / 1)", field="message_type")
    if content_type not in CONTENT_TYPES:
        raise Invalid(f"must be one of {', '.join(CONTENT_TYPES)}", field="content_type")
    _check_content(content)
    if not (content or "").strip() and content_type not in INTERACTIVE and not has_files:
        raise Invalid("A message needs content", field="content")
    if reason := json_limits.problem(content_attributes or {}):
        raise Invalid(reason, field="content_attributes")
    _check_interactive(content_type, content_attributes or {})


def _check_content(content: str | None) -> None:
    if content is None:
        return
    if len(content) > MAX_CONTENT:
        raise Invalid(f"String should have at most {MAX_CONTENT} characters", field="content")
    if "\x00" in content:
        raise Invalid(json_limits.NUL, field="content")


def _check_interactive(content_type: str, attributes: dict[str, Any]) -> None:
    """Questions must carry their choices, or the widget has nothing to render."""
    if content_type in ("input_select", "cards", "form"):
        items = attributes.get("items")
        if not isinstance(items, list) or not items:
            raise Invalid(
                f"A {content_type} message needs content_attributes.items, a non-empty list",
                field="content_attributes.items",
            )


async def get_message(
    session: AsyncSession,
    account_id: int,
    message_id: int,
    conversation: Conversation | None = None,
) -> Message:
    query = select(Message).where(Message.account_id == account_id, Message.id == message_id)
    if conversation is not None:
        query = query.where(Message.conversation_id == conversation.id)
    message = await session.scalar(query)
    if message is None:
        raise NotFound(f"No message {message_id} here", field="message_id")
    return message


def _check_editable(message: Message) -> None:
    if message.message_type == ACTIVITY:
        raise Invalid("Activity messages cannot be changed", field="message_id")
    if (message.content_attributes or {}).get("deleted"):
        raise Invalid("This message was deleted", field="message_id")


async def update_message(session: AsyncSession, message: Message, changes: dict[str, Any]) -> bool:
    """Applies content / content_attributes (merged) / status; True when anything changed."""
    _check_editable(message)
    changed = False
    if "content" in changes and changes["content"] != message.content:
        if message.message_type != OUTGOING and message.message_type != INCOMING:
            raise Invalid("Only incoming and outgoing messages can be edited", field="content")
        _check_content(changes["content"])
        message.content = changes["content"]
        changed = True
    if changes.get("content_attributes"):
        merged = {**(message.content_attributes or {}), **changes["content_attributes"]}
        # Each update is within the limits (the request models); their sum must be as well.
        if reason := json_limits.size_problem(merged):
            raise Invalid(f"{reason} (with the attributes already stored)", "content_attributes")
        if merged != message.content_attributes:
            message.content_attributes = merged
            changed = True
    # A null status changes nothing (the column is never null), as for conversations.
    if changes.get("status") is not None and changes["status"] != message.status:
        message.status = changes["status"]
        changed = True
    if changed:
        message.updated_at = utcnow()
        await session.flush()
        await _announce_update(session, message)
    return changed


async def _announce_update(session: AsyncSession, message: Message) -> None:
    conversation = await session.get(Conversation, message.conversation_id)
    assert conversation is not None
    await emit.message_updated(session, message, conversation)


async def delete_message(session: AsyncSession, message: Message) -> None:
    """Soft delete, as Chatwoot does: the row stays so the conversation keeps its shape."""
    _check_editable(message)
    message.content = DELETED_CONTENT
    message.content_attributes = {**(message.content_attributes or {}), "deleted": True}
    message.updated_at = utcnow()
    await session.flush()
    await _announce_update(session, message)


async def list_messages(
    session: AsyncSession, conversation: Conversation, before: int | None, after: int | None
) -> list[Message]:
    """Up to PAGE_SIZE messages, oldest first: the latest ones, or those before/after an id."""
    query = select(Message).where(Message.conversation_id == conversation.id)
    if after is not None:
        rows = await session.scalars(
            query.where(Message.id > after).order_by(Message.id).limit(PAGE_SIZE)
        )
        return list(rows)
    if before is not None:
        query = query.where(Message.id < before)
    rows = await session.scalars(query.order_by(Message.id.desc()).limit(PAGE_SIZE))
    return list(reversed(list(rows)))
