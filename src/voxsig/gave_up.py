"""What happens when a delivery failed for good (the worker's `outcomes.GaveUp` hook, wired in
by app.py and cli.py): an inbox callback's outgoing message is marked failed, and a bot's
pending conversation goes to people."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.agent_bots.handover import stranded
from voxsig.messages.undelivered import mark_failed


async def after_giving_up(session: AsyncSession, given_up: Sequence[tuple[int, str]]) -> None:
    await mark_failed(session, given_up)
    await stranded(session, given_up)
