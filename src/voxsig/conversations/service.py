"""Conversation rules. Every change of a tracked attribute goes through `apply_changes`, which
records activity messages and reports what changed (the events layer publishes it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.errors import Invalid, NotFound
from voxsig.events import emit
from voxsig.kit.clock import unix_or_none, utcnow
from voxsig.kit.search import ESCAPE, contains
from voxsig.models import (
    Account,
    AccountUser,
    Contact,
    ContactInbox,
    Conversation,
    ConversationLabel,
    Inbox,
    Message,
    User,
)
from voxsig.models.message import ACTIVITY

PAGE_SIZE = 25
# The attributes whose changes fire conversation_updated (payloads.md), in the order reported.
TRACKED = (
    "status",
    "assignee_id",
    "priority",
    "snoozed_until",
    "custom_attributes",
    "additional_attributes",
    "labels",
)


@dataclass
class Actor:
    """Who made a change, for activity messages: an agent, the contact, or the system."""

    user: User | None = None
    contact: Contact | None = None

    @property
    def name(self) -> str:
        if self.user is not None:
            return self.user.name
        if self.contact is not None:
            return self.contact.name or "the contact"
        return "Voxsig"


@dataclass
class Changes:
    """Tracked attributes that changed: name -> (previous, current), in JSON form."""

    values: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.values)

    @property
    def status_changed(self) -> bool:
        return "status" in self.values


_BY_DISPLAY_ID = select(Conversation).where(
    Conversation.account_id == bindparam("account_id"),
    Conversation.display_id == bindparam("display_id"),
)  # on every conversation route: built once


async def get_conversation(session: AsyncSession, account_id: int, display_id: int) -> Conversation:
    conversation = await session.scalar(
        _BY_DISPLAY_ID, {"account_id": account_id, "display_id": display_id}
    )
    if conversation is None:
        raise NotFound(f"No conversation {display_id} in this account", field="conversation_id")
    return conversation


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


async def create_conversation(
    session: AsyncSession,
    inbox: Inbox,
    contact_inbox: ContactInbox,
    *,
    status: str = "open",
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
        status=status,
        assignee_id=assignee_id,
        additional_attributes=additional_attributes or {},
        custom_attributes=custom_attributes or {},
        last_activity_at=utcnow(),
    )
    session.add(conversation)
    await session.flush()
    await emit.conversation_created(session, conversation)
    return conversation


async def check_assignee(session: AsyncSession, account_id: int, user_id: int) -> User:
    user = await session.scalar(
        select(User)
        .join(AccountUser, AccountUser.user_id == User.id)
        .where(AccountUser.account_id == account_id, User.id == user_id)
    )
    if user is None:
        raise Invalid(f"No agent {user_id} in this account", field="assignee_id")
    return user


async def labels_of(session: AsyncSession, conversation: Conversation) -> list[str]:
    rows = await session.scalars(
        select(ConversationLabel.title)
        .where(ConversationLabel.conversation_id == conversation.id)
        .order_by(ConversationLabel.title)
    )
    return list(rows)


def _json_value(name: str, value: Any) -> Any:
    """A tracked value as the Conversation object shows it."""
    if name == "snoozed_until":
        return unix_or_none(value)
    if name in ("custom_attributes", "additional_attributes"):
        return dict(value or {})
    return value


async def apply_changes(
    session: AsyncSession, conversation: Conversation, actor: Actor, wanted: dict[str, Any]
) -> Changes:
    """Sets the tracked attributes in `wanted` (labels: the full new list), adds the activity
    messages Chatwoot adds, and returns only what really changed."""
    changes = Changes()
    if wanted.get("assignee_id") is not None:
        await check_assignee(session, conversation.account_id, wanted["assignee_id"])
    if "status" in wanted and wanted["status"] != "snoozed" and "snoozed_until" not in wanted:
        wanted = {**wanted, "snoozed_until": None}
    for name in TRACKED:
        if name not in wanted:
            continue
        if name == "labels":
            before: Any = await labels_of(session, conversation)
            after: Any = sorted(set(wanted["labels"]))
            if before != after:
                await _set_labels(session, conversation, after)
        else:
            before = _json_value(name, getattr(conversation, name))
            after = _json_value(name, wanted[name])
            if before != after:
                setattr(conversation, name, wanted[name])
        if before != after:
            changes.values[name] = (before, after)
    if changes:
        conversation.updated_at = utcnow()
        await session.flush()
        await _record_activity(session, conversation, actor, changes)
        await emit.conversation_changed(session, conversation, changes.values)
    return changes


async def _set_labels(session: AsyncSession, conversation: Conversation, labels: list[str]) -> None:
    await session.execute(
        delete(ConversationLabel).where(ConversationLabel.conversation_id == conversation.id)
    )
    session.add_all(ConversationLabel(conversation_id=conversation.id, title=t) for t in labels)
    await session.flush()


STATUS_ACTIVITY = {
    "resolved": "Conversation was resolved by {actor}",
    "open": "Conversation was reopened by {actor}",
    "pending": "Conversation was marked as pending by {actor}",
    "snoozed": "Conversation was snoozed by {actor}",
}


async def _record_activity(
    session: AsyncSession, conversation: Conversation, actor: Actor, changes: Changes
) -> None:
    lines = []
    if changes.status_changed:
        lines.append(STATUS_ACTIVITY[conversation.status].format(actor=actor.name))
    if "assignee_id" in changes.values:
        if conversation.assignee_id is None:
            lines.append(f"Conversation was unassigned by {actor.name}")
        else:
            assignee = await session.get(User, conversation.assignee_id)
            name = assignee.name if assignee else "an agent"
            lines.append(f"Assigned to {name} by {actor.name}")
    if "priority" in changes.values:
        lines.append(f"{actor.name} set the priority to {conversation.priority or 'none'}")
    if "labels" in changes.values:
        before, after = changes.values["labels"]
        added = [x for x in after if x not in before]
        removed = [x for x in before if x not in after]
        if added:
            lines.append(f"{actor.name} added {', '.join(added)}")
        if removed:
            lines.append(f"{actor.name} removed {', '.join(removed)}")
    for line in lines:
        await add_activity(session, conversation, line)


async def add_activity(session: AsyncSession, conversation: Conversation, content: str) -> Message:
    message = Message(
        account_id=conversation.account_id,
        inbox_id=conversation.inbox_id,
        conversation_id=conversation.id,
        content=content,
        message_type=ACTIVITY,
        content_type="text",
        content_attributes={},
    )
    session.add(message)
    await session.flush()
    return message


def toggled_status(current: str, requested: str | None) -> str:
    """Chatwoot's toggle: an explicit status wins; otherwise open <-> resolved, others -> open."""
    if requested:
        return requested
    return "resolved" if current == "open" else "open"


def mark_seen(conversation: Conversation, *, by_agent: bool) -> None:
    """Last-seen times are not tracked attributes: they change nothing that webhooks report."""
    if by_agent:
        conversation.agent_last_seen_at = utcnow()
    else:
        conversation.contact_last_seen_at = utcnow()


@dataclass
class ListFilter:
    status: str = "open"
    assignee_type: str = "all"
    inbox_id: int | None = None
    labels: list[str] = field(default_factory=list)
    q: str | None = None
    page: int = 1
    contact_id: int | None = None


def _filtered(account_id: int, f: ListFilter) -> Select[Conversation]:
    query = select(Conversation).where(Conversation.account_id == account_id)
    if f.status != "all":
        query = query.where(Conversation.status == f.status)
    if f.inbox_id is not None:
        query = query.where(Conversation.inbox_id == f.inbox_id)
    if f.contact_id is not None:
        query = query.where(Conversation.contact_id == f.contact_id)
    for label in f.labels:
        query = query.where(
            exists().where(
                ConversationLabel.conversation_id == Conversation.id,
                ConversationLabel.title == label,
            )
        )
    if f.q:
        pattern = contains(f.q.lower())
        matches: list[ColumnElement[bool]] = [
            exists().where(
                Contact.id == Conversation.contact_id,
                or_(
                    func.lower(Contact.name).like(pattern, escape=ESCAPE),
                    func.lower(Contact.email).like(pattern, escape=ESCAPE),
                ),
            ),
            exists().where(
                Message.conversation_id == Conversation.id,
                Message.message_type != ACTIVITY,
                func.lower(Message.content).like(pattern, escape=ESCAPE),
            ),
        ]
        if f.q.isdigit():
            matches.append(Conversation.display_id == int(f.q))
        query = query.where(or_(*matches))
    return query


def _by_assignee(
    query: Select[Conversation], assignee_type: str, user_id: int
) -> Select[Conversation]:
    if assignee_type in ("me", "mine"):
        return query.where(Conversation.assignee_id == user_id)
    if assignee_type == "unassigned":
        return query.where(Conversation.assignee_id.is_(None))
    if assignee_type == "assigned":
        return query.where(Conversation.assignee_id.is_not(None))
    return query


async def counts(
    session: AsyncSession, account_id: int, user_id: int, f: ListFilter
) -> dict[str, int]:
    sub = _filtered(account_id, f).subquery()
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((sub.c.assignee_id == user_id, 1), else_=0)), 0),
                func.coalesce(func.sum(case((sub.c.assignee_id.is_(None), 1), else_=0)), 0),
                func.coalesce(func.sum(case((sub.c.assignee_id.is_not(None), 1), else_=0)), 0),
            ).select_from(sub)
        )
    ).one()
    return {
        "mine_count": int(row[1]),
        "unassigned_count": int(row[2]),
        "assigned_count": int(row[3]),
        "all_count": int(row[0]),
    }


async def list_conversations(
    session: AsyncSession, account_id: int, user_id: int, f: ListFilter
) -> list[Conversation]:
    query = _by_assignee(_filtered(account_id, f), f.assignee_type, user_id)
    rows = await session.scalars(
        query.order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
        .offset((f.page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return list(rows)


async def conversations_of_contact(session: AsyncSession, contact: Contact) -> list[Conversation]:
    rows = await session.scalars(
        select(Conversation)
        .where(Conversation.contact_id == contact.id)
        .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
    )
    return list(rows)


def touch(conversation: Conversation, moment: datetime) -> None:
    conversation.last_activity_at = moment
