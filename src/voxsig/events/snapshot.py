"""Everything a conversation's JSON needs, loaded in a fixed number of queries for any batch."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.models import (
    Account,
    Contact,
    ContactInbox,
    Conversation,
    ConversationLabel,
    Inbox,
    Message,
    User,
)
from voxsig.models.message import ACTIVITY, INCOMING


@dataclass
class MessageSnapshot:
    message: Message
    sender_contact: Contact | None = None
    sender_user: User | None = None


@dataclass
class ConversationSnapshot:
    conversation: Conversation
    account: Account
    inbox: Inbox
    contact: Contact
    contact_inbox: ContactInbox
    assignee: User | None
    labels: list[str] = field(default_factory=list)
    last_message: MessageSnapshot | None = None
    unread_count: int = 0


T = TypeVar("T")


async def _by_id(session: AsyncSession, model: type[T], ids: Iterable[int]) -> dict[int, T]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = (await session.scalars(select(model).where(model.id.in_(wanted)))).all()  # type: ignore[attr-defined]
    return {row.id: row for row in rows}  # type: ignore[attr-defined]


async def load_message_senders(
    session: AsyncSession, messages: Sequence[Message]
) -> list[MessageSnapshot]:
    contacts = await _by_id(
        session, Contact, (m.sender_contact_id for m in messages if m.sender_contact_id)
    )
    users = await _by_id(session, User, (m.sender_user_id for m in messages if m.sender_user_id))
    return [
        MessageSnapshot(
            m,
            contacts.get(m.sender_contact_id) if m.sender_contact_id else None,
            users.get(m.sender_user_id) if m.sender_user_id else None,
        )
        for m in messages
    ]


async def _labels(session: AsyncSession, ids: list[int]) -> dict[int, list[str]]:
    rows = await session.execute(
        select(ConversationLabel.conversation_id, ConversationLabel.title)
        .where(ConversationLabel.conversation_id.in_(ids))
        .order_by(ConversationLabel.title)
    )
    out: dict[int, list[str]] = {}
    for conversation_id, title in rows:
        out.setdefault(conversation_id, []).append(title)
    return out


async def _last_messages(session: AsyncSession, ids: list[int]) -> dict[int, Message]:
    latest = (
        select(func.max(Message.id))
        .where(Message.conversation_id.in_(ids), Message.message_type != ACTIVITY)
        .group_by(Message.conversation_id)
    )
    rows = (await session.scalars(select(Message).where(Message.id.in_(latest)))).all()
    return {m.conversation_id: m for m in rows}


async def _unread_counts(
    session: AsyncSession, conversations: Sequence[Conversation]
) -> dict[int, int]:
    """Incoming messages the agents have not seen yet (after `agent_last_seen_at`)."""
    conditions = [
        and_(Message.conversation_id == c.id, Message.created_at > c.agent_last_seen_at)
        if c.agent_last_seen_at
        else Message.conversation_id == c.id
        for c in conversations
    ]
    rows = await session.execute(
        select(Message.conversation_id, func.count())
        .where(Message.message_type == INCOMING, or_(*conditions))
        .group_by(Message.conversation_id)
    )
    return {cid: n for cid, n in rows}


async def load_conversations(
    session: AsyncSession, conversations: Sequence[Conversation]
) -> list[ConversationSnapshot]:
    """Snapshots for many conversations: one query per related table, whatever the batch size."""
    if not conversations:
        return []
    ids = [c.id for c in conversations]
    accounts = await _by_id(session, Account, (c.account_id for c in conversations))
    inboxes = await _by_id(session, Inbox, (c.inbox_id for c in conversations))
    contacts = await _by_id(session, Contact, (c.contact_id for c in conversations))
    contact_inboxes = await _by_id(
        session, ContactInbox, (c.contact_inbox_id for c in conversations)
    )
    assignees = await _by_id(session, User, (c.assignee_id for c in conversations if c.assignee_id))
    labels = await _labels(session, ids)
    last = await _last_messages(session, ids)
    senders = {
        s.message.conversation_id: s
        for s in await load_message_senders(session, list(last.values()))
    }
    unread = await _unread_counts(session, conversations)
    return [
        ConversationSnapshot(
            conversation=c,
            account=accounts[c.account_id],
            inbox=inboxes[c.inbox_id],
            contact=contacts[c.contact_id],
            contact_inbox=contact_inboxes[c.contact_inbox_id],
            assignee=assignees.get(c.assignee_id) if c.assignee_id else None,
            labels=labels.get(c.id, []),
            last_message=senders.get(c.id),
            unread_count=unread.get(c.id, 0),
        )
        for c in conversations
    ]


async def load_conversation(
    session: AsyncSession, conversation: Conversation
) -> ConversationSnapshot:
    return (await load_conversations(session, [conversation]))[0]
