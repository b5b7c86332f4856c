"""Everything a conversation's JSON needs, loaded in a fixed number of queries for any batch."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import bindparam, func, inspect, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from voxsig.models import (
    Account,
    AgentBot,
    Contact,
    ContactInbox,
    Conversation,
    ConversationLabel,
    Inbox,
    Message,
    User,
)
from voxsig.models.message import ACTIVITY, INCOMING
from voxsig.views.attachments import attachment_json, signer_of


@dataclass
class MessageSnapshot:
    message: Message
    sender_contact: Contact | None = None
    sender_user: User | None = None
    sender_bot: AgentBot | None = None
    # Rendered here, where the session's link signer is: the builders stay pure.
    attachments: list[dict[str, Any]] = field(default_factory=list)


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


# The tables a snapshot reads by primary key: each constraint is checked on its own, so `.id`
# is a real column of every one.
T = TypeVar("T", Account, AgentBot, Contact, User)


def _in_session(session: AsyncSession, model: type[T], ident: int) -> T | None:
    """The object this transaction already loaded, if it is fully loaded: no query needed."""
    found = session.identity_map.get(identity_key(model, ident))
    if found is None or inspect(found).expired_attributes:
        return None
    return found


async def _by_id(session: AsyncSession, model: type[T], ids: Iterable[int | None]) -> dict[int, T]:
    """Rows by primary key: those the session holds cost nothing, the rest one query."""
    found: dict[int, T] = {}
    missing: set[int] = set()
    for ident in ids:
        if ident is None or ident in found:
            continue
        known = _in_session(session, model, ident)
        if known is None:
            missing.add(ident)
        else:
            found[ident] = known
    if missing:
        rows = (await session.scalars(select(model).where(model.id.in_(missing)))).all()
        found.update((row.id, row) for row in rows)
    return found


async def load_message_senders(
    session: AsyncSession, messages: Sequence[Message]
) -> list[MessageSnapshot]:
    contacts = await _by_id(
        session, Contact, (m.sender_contact_id for m in messages if m.sender_contact_id)
    )
    users = await _by_id(session, User, (m.sender_user_id for m in messages if m.sender_user_id))
    bots = await _by_id(
        session, AgentBot, (m.sender_agent_bot_id for m in messages if m.sender_agent_bot_id)
    )
    return [
        MessageSnapshot(
            m,
            contacts.get(m.sender_contact_id) if m.sender_contact_id else None,
            users.get(m.sender_user_id) if m.sender_user_id else None,
            bots.get(m.sender_agent_bot_id) if m.sender_agent_bot_id else None,
            _attachments(session, m),
        )
        for m in messages
    ]


def _attachments(session: AsyncSession, message: Message) -> list[dict[str, Any]]:
    """A deleted message shows no files (they are kept, for the links already sent)."""
    if not message.attachments or (message.content_attributes or {}).get("deleted"):
        return []
    links, now = signer_of(session), time.time()
    return [attachment_json(a, links, now) for a in message.attachments]


async def _last_messages(session: AsyncSession, ids: list[int]) -> dict[int, Message]:
    latest = (
        select(func.max(Message.id))
        .where(Message.conversation_id.in_(ids), Message.message_type != ACTIVITY)
        .group_by(Message.conversation_id)
    )
    rows = (await session.scalars(select(Message).where(Message.id.in_(latest)))).all()
    return {m.conversation_id: m for m in rows}


@dataclass
class _Related:
    inbox: Inbox
    contact: Contact
    contact_inbox: ContactInbox
    labels: list[str]
    unread_count: int


# Built once: constructing a statement this size costs more CPU than running it.
_LABELS = (
    select(func.aggregate_strings(ConversationLabel.title, " "))
    .where(ConversationLabel.conversation_id == Conversation.id)
    .scalar_subquery()
)  # space-separated: a label has no spaces
_UNREAD = (
    select(func.count())
    .select_from(Message)
    .where(
        Message.conversation_id == Conversation.id,
        Message.message_type == INCOMING,
        or_(
            Conversation.agent_last_seen_at.is_(None),
            Message.created_at > Conversation.agent_last_seen_at,
        ),
    )
    .scalar_subquery()
)  # incoming messages the agents have not seen yet (after agent_last_seen_at)
_RELATED = (
    select(Conversation.id, Inbox, Contact, ContactInbox, _LABELS, _UNREAD)
    .join(Inbox, Inbox.id == Conversation.inbox_id)
    .join(Contact, Contact.id == Conversation.contact_id)
    .join(ContactInbox, ContactInbox.id == Conversation.contact_inbox_id)
    .where(Conversation.id.in_(bindparam("ids", expanding=True)))
)


async def _related(
    session: AsyncSession, conversations: Sequence[Conversation]
) -> dict[int, _Related]:
    """Each conversation's inbox, contact, contact_inbox, labels and unread count: one query."""
    rows = await session.execute(_RELATED, {"ids": [c.id for c in conversations]})
    return {
        cid: _Related(inbox, contact, contact_inbox, sorted((labels or "").split()), unread or 0)
        for cid, inbox, contact, contact_inbox, labels, unread in rows
    }


async def load_conversations(
    session: AsyncSession,
    conversations: Sequence[Conversation],
    latest: Message | None = None,
) -> list[ConversationSnapshot]:
    """Snapshots for many conversations in a fixed number of queries, whatever the batch size.
    `latest`: a message known to be its conversation's latest non-activity one (the message
    just created), which spares looking it up."""
    if not conversations:
        return []
    ids = [c.id for c in conversations]
    accounts = await _by_id(session, Account, (c.account_id for c in conversations))
    related = await _related(session, conversations)
    assignees = await _by_id(session, User, (c.assignee_id for c in conversations if c.assignee_id))
    if latest is not None and ids == [latest.conversation_id]:
        last = {latest.conversation_id: latest}
    else:
        last = await _last_messages(session, ids)
    senders = {
        s.message.conversation_id: s
        for s in await load_message_senders(session, list(last.values()))
    }
    snapshots = []
    for c in conversations:
        r = related[c.id]
        snapshots.append(
            ConversationSnapshot(
                conversation=c,
                account=accounts[c.account_id],
                inbox=r.inbox,
                contact=r.contact,
                contact_inbox=r.contact_inbox,
                assignee=assignees.get(c.assignee_id) if c.assignee_id else None,
                labels=r.labels,
                last_message=senders.get(c.id),
                unread_count=r.unread_count,
            )
        )
    return snapshots


async def load_conversation(
    session: AsyncSession, conversation: Conversation
) -> ConversationSnapshot:
    return (await load_conversations(session, [conversation]))[0]
