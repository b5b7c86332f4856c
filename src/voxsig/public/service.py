"""What a contact reaches and sees, for both contact-facing APIs: the public client API
(public/api.py) and the widget (widget/api.py, widget/live.py).

A visitor is a contact with a contact_inbox in one inbox; every query here is scoped to that
contact_inbox, so a visitor reaches nothing else, and shows only what visibility.py lets a
contact see. The JSON is public/schemas.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.contacts import service as contacts
from voxsig.conversations.creation import create_conversation
from voxsig.errors import NotFound
from voxsig.messages.service import greet
from voxsig.models import Contact, ContactInbox, Conversation, Inbox, Message
from voxsig.models.inbox import API, WEB_WIDGET
from voxsig.public.schemas import public_conversation_json, public_message_json
from voxsig.public.visibility import visible_to_contact
from voxsig.views.snapshot import load_conversation, load_message_senders


@dataclass
class Visitor:
    inbox: Inbox
    link: ContactInbox
    contact: Contact


# What names an inbox to strangers, by channel: the column, its name, and the inbox's kind.
_NAMED_BY = {
    API: (Inbox.inbox_identifier, "inbox_identifier", "API inbox with this identifier"),
    WEB_WIDGET: (Inbox.website_token, "website_token", "web widget inbox with this website_token"),
}


async def inbox_named(session: AsyncSession, channel_type: str, name: str) -> Inbox:
    """The inbox a stranger names: an API inbox by its inbox_identifier (the public API), a web
    widget's by its website_token (the widget)."""
    column, field, kind = _NAMED_BY[channel_type]
    inbox = await session.scalar(
        select(Inbox).where(column == name, Inbox.channel_type == channel_type)
    )
    if inbox is None:
        raise NotFound(f"No {kind}", field=field)
    return inbox


async def visitor_of(session: AsyncSession, inbox: Inbox, source_id: str) -> Visitor:
    """The contact whose contact_inbox in `inbox` has this source_id (the public API's
    credential)."""
    link = await contacts.find_contact_inbox(session, inbox.id, source_id)
    contact = await session.get(Contact, link.contact_id) if link else None
    if link is None or contact is None:
        raise NotFound("No contact with this identifier in this inbox", field="contact_identifier")
    return Visitor(inbox, link, contact)


async def start_conversation(
    session: AsyncSession,
    visitor: Visitor,
    *,
    additional_attributes: dict[str, Any] | None = None,
    custom_attributes: dict[str, Any] | None = None,
) -> Conversation:
    """A conversation the contact starts (widget or public client API): conversation_created,
    then the inbox's greeting, if it has one, as its first message."""
    conversation = await create_conversation(
        session,
        visitor.inbox,
        visitor.link,
        additional_attributes=additional_attributes,
        custom_attributes=custom_attributes,
    )
    await greet(session, conversation, visitor.inbox)
    return conversation


async def own_conversations(
    session: AsyncSession, link_id: int, *, newest_first: bool
) -> list[Conversation]:
    order = Conversation.id.desc() if newest_first else Conversation.id
    rows = await session.scalars(
        select(Conversation).where(Conversation.contact_inbox_id == link_id).order_by(order)
    )
    return list(rows)


async def own_conversation(
    session: AsyncSession, visitor: Visitor, display_id: int
) -> Conversation:
    conversation = await session.scalar(
        select(Conversation).where(
            Conversation.contact_inbox_id == visitor.link.id,
            Conversation.display_id == display_id,
        )
    )
    if conversation is None:
        raise NotFound(f"No conversation {display_id} for this contact", field="conversation_id")
    return conversation


async def visible_messages(
    session: AsyncSession,
    conversation: Conversation,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int | None = None,
) -> list[Message]:
    """The messages a contact may see (visibility.py), oldest first: up to `limit` (None: all)
    of the latest ones, of those before an id (older pages), or of those after one (catching
    up). Hidden messages are filtered in the query, before the limit: every page is full."""
    query = select(Message).where(Message.conversation_id == conversation.id, visible_to_contact())
    if after is not None:
        query = query.where(Message.id > after).order_by(Message.id)
        return list(await session.scalars(query.limit(limit)))
    if before is not None:
        query = query.where(Message.id < before)
    rows = await session.scalars(query.order_by(Message.id.desc()).limit(limit))
    return list(reversed(rows.all()))


async def own_message(session: AsyncSession, visitor: Visitor, message_id: int) -> Message:
    """A message the visitor may see, in any of their conversations."""
    message = await session.scalar(
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.id == message_id,
            visible_to_contact(),
            Conversation.contact_inbox_id == visitor.link.id,
        )
    )
    if message is None:
        raise NotFound(f"No message {message_id} here", field="message_id")
    return message


async def render_messages(
    session: AsyncSession,
    conversation: Conversation,
    rows: list[Message],
    echo_id: str | None = None,
) -> list[dict[str, Any]]:
    conv = await load_conversation(session, conversation)
    snaps = await load_message_senders(session, rows)
    return [public_message_json(s, conv, echo_id) for s in snaps]


async def render_conversation(
    session: AsyncSession, conversation: Conversation, rows: list[Message] | None = None
) -> dict[str, Any]:
    """The contact's conversation object, with `rows` as its messages (none when not given)."""
    conv = await load_conversation(session, conversation)
    snaps = await load_message_senders(session, rows or [])
    return public_conversation_json(conv, [public_message_json(s, conv) for s in snaps])


async def render_with_history(session: AsyncSession, conversation: Conversation) -> dict[str, Any]:
    """The public API's conversation object: with every message its contact may see."""
    rows = await visible_messages(session, conversation)
    return await render_conversation(session, conversation, rows)
