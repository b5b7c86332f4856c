"""A new conversation: its contact_inbox (found or made), its number within the account, the
row, and conversation_created."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.contacts.service import (
    contact_inbox_for,
    find_contact_inbox,
    get_contact,
    link_to_inbox,
)
from voxsig.conversations.lookup import check_assignee
from voxsig.errors import Invalid
from voxsig.events import emit
from voxsig.kit.clock import utcnow
from voxsig.models import Account, ContactInbox, Conversation, Inbox
from voxsig.outbox.endpoints import bot_reachable


async def contact_inbox_of(
    session: AsyncSession, inbox: Inbox, contact_id: int | None, source_id: str | None
) -> ContactInbox:
    """The contact_inbox a new conversation of the REST API belongs to: the one of `source_id`
    in this inbox, else the contact's in this inbox (made, with `source_id` if given, when the
    contact has none)."""
    link = await find_contact_inbox(session, inbox.id, source_id) if source_id else None
    if link is None:
        if contact_id is None:
            raise Invalid(
                "Give the contact_id, or the source_id of a contact in this inbox",
                field="source_id" if source_id else "contact_id",
            )
        contact = await get_contact(session, inbox.account_id, contact_id)
        link = await contact_inbox_for(session, contact.id, inbox.id) if not source_id else None
        return link or await link_to_inbox(session, contact, inbox, source_id)
    if contact_id is not None and link.contact_id != contact_id:
        raise Invalid("source_id belongs to another contact", field="source_id")
    return link


async def next_display_id(session: AsyncSession, account_id: int) -> int:
    """The account's next conversation number; the row lock makes it safe under concurrency."""
    number = await session.scalar(
        update(Account)
        .where(Account.id == account_id)
        .values(conversation_seq=Account.conversation_seq + 1)
        .returning(Account.conversation_seq)
    )
    assert number is not None
    return int(number)


async def first_status(session: AsyncSession, inbox: Inbox) -> str:
    """Where a conversation starts (or a resolved one reopens when the contact writes again):
    pending while the inbox's bot answers first, as in Chatwoot, so the agents' open view is
    not flooded with what the bot handles; open when the bot is called nowhere (no
    outgoing_url, or its endpoint disabled), so that nobody waits for it."""
    if inbox.agent_bot_id is None or not await bot_reachable(session, inbox.agent_bot_id):
        return "open"
    return "pending"


async def create_conversation(
    session: AsyncSession,
    inbox: Inbox,
    contact_inbox: ContactInbox,
    *,
    status: str | None = None,
    assignee_id: int | None = None,
    additional_attributes: dict[str, Any] | None = None,
    custom_attributes: dict[str, Any] | None = None,
) -> Conversation:
    if assignee_id is not None:
        await check_assignee(session, inbox.account_id, assignee_id)
    conversation = Conversation(
        account_id=inbox.account_id,
        display_id=await next_display_id(session, inbox.account_id),
        inbox_id=inbox.id,
        contact_id=contact_inbox.contact_id,
        contact_inbox_id=contact_inbox.id,
        status=status or await first_status(session, inbox),
        assignee_id=assignee_id,
        additional_attributes=additional_attributes or {},
        custom_attributes=custom_attributes or {},
        last_activity_at=utcnow(),
    )
    session.add(conversation)
    await session.flush()
    await emit.conversation_created(session, conversation)
    return conversation
