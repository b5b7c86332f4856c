"""The visitor's live stream (server-sent events): agents' replies and status changes of the
visitor's own conversations, as they are committed, with no polling.

Signals from `voxsig.live` say only what changed; each is checked against the visitor's
conversations and the row reloaded and rendered as the public JSON, so private notes and other
visitors' messages never leave. Every signal opens its own short transaction: a stream holds no
database connection while it waits (SQLite has only one).

A stream ends by itself after LIFETIME seconds and the browser reconnects (EventSource does
that on its own, after `retry` ms): a server shutting down waits for open responses, so none may
last for ever. The `ready` event sent after subscribing tells the widget to fetch what it may
have missed in between.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.db import Database
from voxsig.live import Hub, Signal
from voxsig.models import Conversation, Message
from voxsig.widget import service

LIFETIME = 55.0  # below the 60 s idle timeout of common proxies
HEARTBEAT = 20.0
RETRY_MS = 1000


@dataclass
class Watch:
    """One visitor's stream: their account, contact_inbox, and the conversations known theirs."""

    account_id: int
    link_id: int
    own: set[int] = field(default_factory=set)


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def stream(db: Database, hub: Hub, watch: Watch) -> AsyncIterator[str]:
    async with hub.watch(watch.account_id) as queue:
        async with db.transaction() as session:
            watch.own = {c.id for c in await service.own_conversations(session, watch.link_id)}
        yield f"retry: {RETRY_MS}\n" + sse("ready", {})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LIFETIME
        while (left := deadline - loop.time()) > 0:
            try:
                sig = await asyncio.wait_for(queue.get(), timeout=min(HEARTBEAT, left))
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if event := await _render(db, watch, sig):
                yield event


async def _render(db: Database, watch: Watch, sig: Signal) -> str | None:
    """The signal as this visitor may see it, or None when it is none of theirs."""
    if sig.conversation_id not in watch.own and sig.kind != "conversation.created":
        return None  # the common case, decided without a query
    async with db.transaction() as session:
        conversation = await session.scalar(
            select(Conversation).where(
                Conversation.id == sig.conversation_id,
                Conversation.contact_inbox_id == watch.link_id,
            )
        )
        if conversation is None:
            return None
        watch.own.add(conversation.id)
        if sig.message_id is None:
            return sse(sig.kind, await service.render_conversation(session, conversation))
        return await _message_event(session, conversation, sig)


async def _message_event(
    session: AsyncSession, conversation: Conversation, sig: Signal
) -> str | None:
    message = await session.get(Message, sig.message_id)
    if message is None or message.private or message.conversation_id != conversation.id:
        return None
    rendered = await service.render_messages(session, conversation, [message])
    return sse(sig.kind, rendered[0])
