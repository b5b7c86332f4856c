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
QUEUE_SIZE = 1000


@dataclass(frozen=True)
class Signal:
    kind: str  # conversation.created | conversation.updated | message.created | message.updated
    account_id: int
    conversation_id: int  # the row id
    message_id: int | None = None


async def signal(session: AsyncSession, sig: Signal) -> None:
    """Queues `sig` to be sent when (and only if) this transaction commits."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": CHANNEL, "payload": json.dumps(asdict(sig))},
        )
    else:
        session.info.setdefault("live", []).append(sig)


class Hub:
    """Fan-out to the watchers of each account, in this process."""

    def __init__(self) -> None:
        self._watchers: dict[int, set[asyncio.Queue[Signal]]] = {}

    def publish(self, sig: Signal) -> None:
        for queue in self._watchers.get(sig.account_id, ()):
            with contextlib.suppress(asyncio.QueueFull):  # a stalled viewer misses updates only
                queue.put_nowait(sig)

    def committed(self, info: dict[str, Any]) -> None:
        for sig in info.pop("live", ()):
            self.publish(sig)

    def notified(self, payload: str) -> None:
        try:
            self.publish(Signal(**json.loads(payload)))
        except (ValueError, TypeError):
            log.warning("ignoring a malformed live signal: %.200s", payload)

    @contextlib.asynccontextmanager
    async def watch(self, account_id: int) -> AsyncIterator[asyncio.Queue[Signal]]:
        queue: asyncio.Queue[Signal] = asyncio.Queue(QUEUE_SIZE)
        self._watchers.setdefault(account_id, set()).add(queue)
        try:
            yield queue
        finally:
            watchers = self._watchers.get(account_id, set())
            watchers.discard(queue)
            if not watchers:
                self._watchers.pop(account_id, None)
