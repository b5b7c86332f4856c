"""The conversation list: its filters (status, assignee, inbox, labels, search), its page and
the counts per assignee tab."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Select, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.kit.search import ESCAPE, contains
from voxsig.models import Contact, Conversation, ConversationLabel, Message
from voxsig.models.message import ACTIVITY

PAGE_SIZE = 25


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
