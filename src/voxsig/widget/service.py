"""Widget rules: who a visitor is, which conversation is theirs, and what they may change.

A visitor (public/service.py, shared with the public client API) is a contact with a
contact_inbox (source_id a fresh UUID) in the widget's inbox; every query here is scoped to that
contact_inbox, so a visitor reaches nothing else. Messages, conversations and their events go
through the same services as the REST API.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.contacts import service as contacts
from voxsig.conversations.changes import Actor, apply_changes
from voxsig.conversations.lookup import labels_of
from voxsig.kit.clock import iso, utcnow
from voxsig.messages import service as messages
from voxsig.models import (
    Attachment,
    Contact,
    ContactInbox,
    Conversation,
    ConversationLabel,
    Inbox,
    Message,
)
from voxsig.models.message import INCOMING, OUTGOING
from voxsig.public.service import Visitor
from voxsig.public.service import start_conversation as contact_starts

PAGE_SIZE = 50  # messages in one page of the widget's history


@dataclass(frozen=True)
class Client:
    """What the visitor's browser told about itself, for a conversation it starts."""

    browser: dict[str, str]
    language: str
    referer: str


async def start_visitor(session: AsyncSession, inbox: Inbox) -> Visitor:
    # A name agents can tell apart until the website calls setUser (Chatwoot invents one too).
    contact = await contacts.create_contact(
        session, inbox.account_id, {"name": f"Visitor {secrets.token_hex(2)}"}, anonymous=True
    )
    link = await contacts.link_to_inbox(session, contact, inbox)
    return Visitor(inbox, link, contact)


async def find_visitor(
    session: AsyncSession, inbox: Inbox, contact_inbox_id: int, source_id: str
) -> Visitor | None:
    row = (
        await session.execute(
            select(ContactInbox, Contact)
            .join(Contact, Contact.id == ContactInbox.contact_id)
            .where(
                ContactInbox.id == contact_inbox_id,
                ContactInbox.inbox_id == inbox.id,
                ContactInbox.source_id == source_id,
            )
        )
    ).first()
    return Visitor(inbox, row[0], row[1]) if row else None


async def current_conversation(session: AsyncSession, visitor: Visitor) -> Conversation | None:
    """The latest conversation, whatever its status: writing to a resolved one reopens it."""
    return await session.scalar(
        select(Conversation)
        .where(Conversation.contact_inbox_id == visitor.link.id)
        .order_by(Conversation.id.desc())
        .limit(1)
    )


def started_by(client: Client) -> dict[str, Any]:
    """additional_attributes of a conversation the widget starts (webhook-events.md)."""
    return {
        "browser": client.browser,
        "referer": client.referer,
        "initiated_at": {"timestamp": iso(utcnow())},
        "browser_language": client.language,
    }


async def start_conversation(
    session: AsyncSession,
    visitor: Visitor,
    client: Client,
    custom_attributes: dict[str, Any] | None = None,
) -> Conversation:
    return await contact_starts(
        session,
        visitor,
        additional_attributes=started_by(client),
        custom_attributes=custom_attributes,
    )


async def send_message(
    session: AsyncSession,
    visitor: Visitor,
    content: str,
    client: Client,
    attachments: Sequence[Attachment] = (),
) -> tuple[Conversation, Message]:
    """The visitor's message, in their current conversation or, the first time, a new one;
    `attachments` are its files' rows, already stored (messages/attachments.py)."""
    conversation = await current_conversation(session, visitor)
    if conversation is None:
        conversation = await start_conversation(session, visitor, client)
    created = await messages.create_message(
        session,
        conversation,
        Actor(contact=visitor.contact),
        content=content,
        message_type=INCOMING,
        attachments=attachments,
    )
    return conversation, created


async def update_profile(session: AsyncSession, contact: Contact, fields: dict[str, Any]) -> None:
    """The visitor's own profile fields, kept as given: whether another contact has the same
    e-mail or phone changes nothing, so the answer never tells a visitor who is a customer."""
    await contacts.update_contact(session, contact, fields, by_visitor=True)


async def forget_attributes(session: AsyncSession, contact: Contact, names: list[str]) -> None:
    """`$chatwoot.deleteCustomAttribute`: those names leave the contact's custom_attributes
    (setCustomAttributes merges, so only this removes one)."""
    kept = {k: v for k, v in (contact.custom_attributes or {}).items() if k not in names}
    if kept != contact.custom_attributes:
        await contacts.replace_attributes(session, contact, "custom_attributes", kept)


async def set_conversation_attributes(
    session: AsyncSession, visitor: Visitor, conversation: Conversation, attributes: dict[str, Any]
) -> None:
    """The visitor's page sets the conversation's custom_attributes (a tracked change, so
    conversation_updated fires)."""
    await apply_changes(
        session, conversation, Actor(contact=visitor.contact), {"custom_attributes": attributes}
    )


async def forget_conversation_attributes(
    session: AsyncSession, visitor: Visitor, conversation: Conversation, names: list[str]
) -> None:
    current = conversation.custom_attributes or {}
    kept = {k: v for k, v in current.items() if k not in names}
    await set_conversation_attributes(session, visitor, conversation, kept)


async def label_in_use(session: AsyncSession, account_id: int, label: str) -> bool:
    """Voxsig's account labels are the ones its conversations carry: Chatwoot's widget may add
    only a label defined in the account, and so may this one."""
    found = await session.scalar(
        select(ConversationLabel.id)
        .join(Conversation, Conversation.id == ConversationLabel.conversation_id)
        .where(Conversation.account_id == account_id, ConversationLabel.title == label)
        .limit(1)
    )
    return found is not None


async def change_label(
    session: AsyncSession, visitor: Visitor, conversation: Conversation, label: str, *, add: bool
) -> None:
    """`$chatwoot.setLabel` / `removeLabel` on the visitor's conversation. A label the account
    does not use is not added, and nothing says so (the answer is the same either way, so a
    visitor learns nothing of the account's labels)."""
    labels = await labels_of(session, conversation)
    if add and (label in labels or not await label_in_use(session, conversation.account_id, label)):
        return
    if not add and label not in labels:
        return
    wanted = [*labels, label] if add else [x for x in labels if x != label]
    await apply_changes(session, conversation, Actor(contact=visitor.contact), {"labels": wanted})


async def identify(
    session: AsyncSession, visitor: Visitor, identifier: str, verified: bool
) -> Visitor:
    """setUser. A verified identifier makes the visitor that customer: their contact (never an
    anonymous one) and their verified contact_inbox, with its history; what the visitor did
    before stays on their anonymous contact. An unverified identifier is only a label on the
    visitor's own anonymous contact: it reaches no one else and no one reaches it."""
    if verified:
        if visitor.link.hmac_verified and visitor.contact.identifier == identifier:
            return visitor  # already them
        return await _become(session, visitor, identifier)
    if visitor.contact.anonymous and visitor.contact.identifier in (None, identifier):
        await update_profile(session, visitor.contact, {"identifier": identifier})
    return visitor


async def _become(session: AsyncSession, visitor: Visitor, identifier: str) -> Visitor:
    account_id = visitor.inbox.account_id
    owner = await contacts.verified_customer(session, account_id, identifier)
    if owner is None:
        owner = await contacts.create_contact(
            session, account_id, {"identifier": identifier}, by_visitor=True
        )
    link = await contacts.verified_link(session, owner, visitor.inbox)
    await _leave_behind(session, visitor.contact, owner)
    return Visitor(visitor.inbox, link, owner)


async def _leave_behind(session: AsyncSession, contact: Contact, owner: Contact) -> None:
    """The anonymous contact this browser had before a verified login as `owner`. Nothing it
    holds becomes the customer's (docs/security.md): if nobody wrote in it (no conversation, or
    only ones holding nothing but the greeting), it goes, with them, so no empty "Visitor 3f2a"
    is left behind; if someone did, it stays apart with its chat, and notes that this browser
    then logged in as `owner`, so agents can tell and answer the customer where they are now."""
    if not contact.anonymous:
        return  # a customer's contact, whatever it holds
    written = await session.scalar(
        select(Message.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Conversation.contact_id == contact.id,
            Message.message_type.in_((INCOMING, OUTGOING)),
        )
        .limit(1)
    )
    if written is None:
        await contacts.delete_contact(session, contact)  # its conversations go with it
    else:
        await contacts.note_identified_as(session, contact, owner)
