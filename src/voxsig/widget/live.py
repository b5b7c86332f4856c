"""The visitor's live stream (server-sent events): agents' replies and status changes of the
visitor's own conversations, as they are committed, with no polling.

Signals from `voxsig.live` say only what changed and whose conversation it is (its
contact_inbox). The hub hands a stream only its own visitor's signals, and the stream checks
that again from the signal alone, so the streams of other visitors cost no database work: an
account with hundreds of open widgets does one load per signal for the one visitor concerned.
That load reloads the row, scoped to the visitor, and renders what a contact may see
(`voxsig.public.visibility`: no private note, no activity line). Each load is its own short
transaction: a stream holds no database connection while it waits (SQLite has only one).

Open streams are capped per client address and per visitor (VOXSIG_WIDGET_LIVE_STREAMS_PER_*),
so one address cannot hold an unbounded number of connections and coroutines.

Typing signals reach the visitor only when an agent types a reply (`conversation.typing_on`
and `_off`, with the conversation's number), never for a private note, nor the visitor's own.

A stream ends by itself after LIFETIME seconds and the browser reconnects (EventSource does
that on its own, after `retry` ms): a server shutting down waits for open responses, so none may
last for ever. The `ready` event sent after subscribing tells the widget to fetch what it may
have missed in between.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from voxsig.db import Database
from voxsig.live import Hub, Signal
from voxsig.metrics import REGISTRY
from voxsig.models import Conversation
from voxsig.public import service
from voxsig.public.schemas import public_conversation_json
from voxsig.public.visibility import visible_message
from voxsig.views.snapshot import load_conversations

LIFETIME = 55.0  # below the 60 s idle timeout of common proxies
HEARTBEAT = 20.0
RETRY_MS = 1000
TYPING = ("conversation.typing_on", "conversation.typing_off")

LOADS = Counter(
    "voxsig_widget_live_loads",
    "Signals a widget live stream loaded from the database (only its own visitor's)",
    registry=REGISTRY,
)


@dataclass
class Watch:
    """One visitor's stream: their contact_inbox, and their conversations as last shown to
    them (by row id), so that a change they cannot see sends them nothing."""

    link_id: int
    shown: dict[int, dict[str, Any]] = field(default_factory=dict)


async def watch(session: AsyncSession, link_id: int) -> Watch:
    """A stream's starting point, read in the request's own transaction."""
    rows = await service.own_conversations(session, link_id, newest_first=True)
    snaps = await load_conversations(session, rows)
    return Watch(link_id, {s.conversation.id: public_conversation_json(s, []) for s in snaps})


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def stream(db: Database, hub: Hub, watch: Watch) -> AsyncIterator[str]:
    async with hub.watch_visitor(watch.link_id) as queue:
        yield f"retry: {RETRY_MS}\n" + sse("ready", {})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LIFETIME
        while (left := deadline - loop.time()) > 0:
            try:
                sig = await asyncio.wait_for(queue.get(), timeout=min(HEARTBEAT, left))
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if event := await render(db, watch, sig):
                yield event


async def render(db: Database, watch: Watch, sig: Signal) -> str | None:
    """The signal as this visitor may see it, or None when it is none of theirs (decided from
    the signal alone, before any query) or nothing they may see."""
    if sig.contact_inbox_id != watch.link_id:
        return None
    # Of typing, only an agent's, and never while writing a private note.
    if sig.kind in TYPING and (sig.user_id is None or sig.is_private):
        return None
    LOADS.inc()
    async with db.transaction() as session:
        conversation = await session.scalar(
            select(Conversation).where(
                Conversation.id == sig.conversation_id,
                Conversation.contact_inbox_id == watch.link_id,
            )
        )
        if conversation is None:
            return None
        if sig.kind in TYPING:
            return sse(sig.kind, {"conversation_id": conversation.display_id})
        if sig.message_id is None:
            data = await service.render_conversation(session, conversation)
            if watch.shown.get(conversation.id) == data:
                # Agents' internal changes (labels, priority, assignee) signal
                # conversation.updated too; the contact's view is unchanged by them.
                return None
            watch.shown[conversation.id] = data
            return sse(sig.kind, data)
        message = await visible_message(session, conversation, sig.message_id)
        if message is None:
            return None  # a private note or an activity line
        rendered = await service.render_messages(session, conversation, [message])
        return sse(sig.kind, rendered[0])


class StreamSlots:
    """How many streams each key (an address, a visitor) holds open, at most `limit` each."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def take(self, key: str) -> bool:
        held = self._open.get(key, 0)
        if held >= self.limit:
            return False
        self._open[key] = held + 1
        return True

    def give_back(self, key: str) -> None:
        held = self._open.get(key, 0) - 1
        if held > 0:
            self._open[key] = held
        else:
            self._open.pop(key, None)

    def held(self, key: str) -> int:
        return self._open.get(key, 0)


class ReleasingStream(StreamingResponse):
    """A streaming response that runs `release` once it is over, however it ends (finished,
    client gone, server stopping), even if its body was never started."""

    def __init__(self, content: AsyncIterator[str], release: Callable[[], None], **kw: Any) -> None:
        super().__init__(content, **kw)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
