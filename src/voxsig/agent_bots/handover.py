"""Handing a bot's pending conversations to people: when the bot says so (it opens the
conversation through the API), when it is taken off the inbox or deleted, and when a delivery
to it failed for good, so that no visitor waits for a bot that will never answer (Chatwoot's
Webhooks::Trigger opens the pending conversation when its bot's delivery fails)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.conversations.changes import Actor, apply_changes
from voxsig.models import AgentBot, Conversation, Delivery, Event, Inbox, Webhook
from voxsig.models.webhook import BOT_ENDPOINT

PENDING, OPEN = "pending", "open"
ERROR_MAX = 300


async def to_people(session: AsyncSession, conversation: Conversation, why: str) -> bool:
    """Opens a pending conversation for the agents, with `why` as its activity line; False if
    it was not pending (an agent took it meanwhile, or it was resolved)."""
    if conversation.status != PENDING:
        return False
    await apply_changes(session, conversation, Actor(), {"status": OPEN}, activity=why)
    return True


async def inbox_to_people(session: AsyncSession, inbox: Inbox, why: str) -> int:
    """Every pending conversation of the inbox, opened for the agents; how many."""
    pending = await session.scalars(
        select(Conversation)
        .where(Conversation.inbox_id == inbox.id, Conversation.status == PENDING)
        .order_by(Conversation.id)
    )
    opened = 0
    for conversation in list(pending):
        opened += await to_people(session, conversation, why)
    return opened


async def stranded(session: AsyncSession, given_up: Sequence[tuple[int, str]]) -> None:
    """The worker's word that these deliveries failed for good (delivery id, last error): each
    pending conversation whose bot never got its event goes to people."""
    errors = dict(given_up)
    rows = await session.execute(
        select(Delivery.id, Event.conversation_id, AgentBot.name)
        .join(Event, Event.id == Delivery.event_id)
        .join(Webhook, Webhook.id == Delivery.webhook_id)
        .join(AgentBot, AgentBot.id == Webhook.agent_bot_id)
        .where(
            Delivery.id.in_(list(errors)),
            Webhook.kind == BOT_ENDPOINT,
            Event.conversation_id.is_not(None),
        )
    )
    done: set[int | None] = set()
    for delivery_id, conversation_id, bot_name in rows:
        if conversation_id in done:
            continue
        done.add(conversation_id)
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None:
            continue
        error = errors[delivery_id][:ERROR_MAX]
        await to_people(
            session,
            conversation,
            f"{bot_name} did not answer ({error}): the conversation is open for the agents",
        )
