"""Read-only lookups that only the dashboard's pages need. Nothing here changes a row: every
change goes through the domain services, so webhooks fire as they do through the API."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.models import (
    Account,
    AgentBot,
    Conversation,
    ConversationLabel,
    Delivery,
    DeliveryAttempt,
    Message,
    Webhook,
)
from voxsig.models.conversation import Status
from voxsig.models.webhook import PENDING

# A conversation's status while its inbox's bot holds it (a delivery's PENDING is another).
CONVERSATION_PENDING: Status = "pending"


async def has_account(session: AsyncSession) -> bool:
    """The first run is over once any account exists."""
    return await session.scalar(select(Account.id).limit(1)) is not None


async def account_labels(session: AsyncSession, account_id: int) -> list[str]:
    """Labels in use in the account, for the label filter."""
    rows = await session.scalars(
        select(ConversationLabel.title)
        .join(Conversation, Conversation.id == ConversationLabel.conversation_id)
        .where(Conversation.account_id == account_id)
        .distinct()
        .order_by(ConversationLabel.title)
    )
    return list(rows)


async def last_errors(
    session: AsyncSession, webhooks: Sequence[Webhook]
) -> dict[int, DeliveryAttempt]:
    """Each endpoint's latest failed attempt (its "last error")."""
    if not webhooks:
        return {}
    latest = (
        select(func.max(DeliveryAttempt.id))
        .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
        .where(
            Delivery.webhook_id.in_([w.id for w in webhooks]),
            DeliveryAttempt.error_class.is_not(None),
        )
        .group_by(Delivery.webhook_id)
    )
    rows = await session.execute(
        select(Delivery.webhook_id, DeliveryAttempt)
        .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
        .where(DeliveryAttempt.id.in_(latest))
    )
    return {webhook_id: attempt for webhook_id, attempt in rows}


async def pending_counts(session: AsyncSession, webhooks: Sequence[Webhook]) -> dict[int, int]:
    if not webhooks:
        return {}
    rows = await session.execute(
        select(Delivery.webhook_id, func.count())
        .where(Delivery.webhook_id.in_([w.id for w in webhooks]), Delivery.status == PENDING)
        .group_by(Delivery.webhook_id)
    )
    return {webhook_id: count for webhook_id, count in rows}


async def last_attempts(
    session: AsyncSession, delivery_ids: Sequence[int]
) -> dict[int, DeliveryAttempt]:
    """Each delivery's latest attempt, for the log's status-code column."""
    if not delivery_ids:
        return {}
    latest = (
        select(func.max(DeliveryAttempt.id))
        .where(DeliveryAttempt.delivery_id.in_(delivery_ids))
        .group_by(DeliveryAttempt.delivery_id)
    )
    rows = await session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.id.in_(latest)))
    return {a.delivery_id: a for a in rows}


async def messages_of(
    session: AsyncSession, conversation: Conversation, before: int | None, limit: int = 100
) -> list[Message]:
    """The latest `limit` messages (or those before a message id), oldest first: an agent
    reads a whole conversation, not the API's pages of 20."""
    query = select(Message).where(Message.conversation_id == conversation.id)
    if before is not None:
        query = query.where(Message.id < before)
    rows = await session.scalars(query.order_by(Message.id.desc()).limit(limit))
    return list(reversed(list(rows)))


async def bot_endpoints(session: AsyncSession, bots: Sequence[AgentBot]) -> dict[int, Webhook]:
    """Each bot's endpoint (bots without an outgoing_url have none), in one query."""
    if not bots:
        return {}
    rows = await session.scalars(
        select(Webhook).where(Webhook.agent_bot_id.in_([b.id for b in bots]))
    )
    return {w.agent_bot_id: w for w in rows if w.agent_bot_id is not None}


async def pending_by_inbox(session: AsyncSession, inbox_ids: Sequence[int]) -> dict[int, int]:
    """How many conversations of each inbox are pending (those its bot holds); inboxes with
    none are left out."""
    if not inbox_ids:
        return {}
    rows = await session.execute(
        select(Conversation.inbox_id, func.count())
        .where(
            Conversation.inbox_id.in_(list(inbox_ids)),
            Conversation.status == CONVERSATION_PENDING,
        )
        .group_by(Conversation.inbox_id)
    )
    return {inbox_id: count for inbox_id, count in rows}
