"""Live updates for the dashboard and the widget: small signals ("message 42 of conversation 7
was created") sent after commit to whoever watches that account.

A signal names what changed, not its content: each live endpoint reloads the row and renders it
for its own viewer (a visitor never sees a private note). On SQLite everything runs in one
process and signals go straight to the in-process hub after commit; on PostgreSQL they ride on
NOTIFY, which PostgreSQL delivers only on commit and to every process, each forwarding to its own
hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("voxsig.live")
CHANNEL = "voxsig_live"
# session.info key: the signals of this transaction, sent by `Hub.committed` (SQLite).
PENDING_SIGNALS = "live"
QUEUE_SIZE = 1000


@dataclass(frozen=True)
class Signal:
    # conversation.created | conversation.updated | message.created | message.updated |
    # conversation.typing_on | conversation.typing_off
    kind: str
    account_id: int
    conversation_id: int  # the row id
    # The conversation's contact_inbox: the one widget visitor it concerns. The hub hands a
    # signal only to that visitor's streams, so the others do no work at all for it.
    contact_inbox_id: int
    message_id: int | None = None
    # Typing signals only: the agent typing (None: the contact), and whether it is a private
    # note (never shown to the visitor).
    user_id: int | None = None
    is_private: bool = False


async def signal(session: AsyncSession, sig: Signal) -> None:
    """Queues `sig` to be sent when (and only if) this transaction commits."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": CHANNEL, "payload": json.dumps(asdict(sig))},
        )
    else:
        session.info.setdefault(PENDING_SIGNALS, []).append(sig)


Queue = asyncio.Queue[Signal]


class Hub:
    """Fan-out in this process: to the watchers of each account (the dashboard) and to those
    of each contact_inbox (widget visitors). Publishing costs one queue put per concerned
    watcher, whatever the number of other visitors watching the same account."""

    def __init__(self) -> None:
        self._watchers: dict[int, set[Queue]] = {}
        self._visitors: dict[int, set[Queue]] = {}

    def publish(self, sig: Signal) -> None:
        concerned = (
            *self._watchers.get(sig.account_id, ()),
            *self._visitors.get(sig.contact_inbox_id, ()),
        )
        for queue in concerned:
            with contextlib.suppress(asyncio.QueueFull):  # a stalled viewer misses updates only
                queue.put_nowait(sig)

    def committed(self, info: dict[str, Any]) -> None:
        for sig in info.pop(PENDING_SIGNALS, ()):
            self.publish(sig)

    def notified(self, payload: str) -> None:
        try:
            self.publish(Signal(**json.loads(payload)))
        except (ValueError, TypeError):
            log.warning("ignoring a malformed live signal: %.200s", payload)

    def watch(self, account_id: int) -> contextlib.AbstractAsyncContextManager[Queue]:
        """Every signal of the account."""
        return _watching(self._watchers, account_id)

    def watch_visitor(self, contact_inbox_id: int) -> contextlib.AbstractAsyncContextManager[Queue]:
        """The signals of one contact_inbox's conversations only."""
        return _watching(self._visitors, contact_inbox_id)


@contextlib.asynccontextmanager
async def _watching(watchers: dict[int, set[Queue]], key: int) -> AsyncIterator[Queue]:
    queue: Queue = asyncio.Queue(QUEUE_SIZE)
    watchers.setdefault(key, set()).add(queue)
    try:
        yield queue
    finally:
        watching = watchers.get(key, set())
        watching.discard(queue)
        if not watching:
            watchers.pop(key, None)
