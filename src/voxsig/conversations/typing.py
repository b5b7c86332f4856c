"""Typing indicators: an agent or the contact starts or stops typing. Nothing is stored (it is
not a change of the conversation), but the event goes through the outbox like any other, in
the request's transaction and in order with the conversation's other events, and the live
views hear of it (events.emit.conversation_typing)."""

from __future__ import annotations

from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.conversations.changes import Actor
from voxsig.events import emit
from voxsig.models import Conversation

TypingStatus = Literal["on", "off"]


async def toggle_typing(
    session: AsyncSession,
    conversation: Conversation,
    actor: Actor,
    typing_status: TypingStatus,
    is_private: bool = False,
) -> None:
    """`is_private`: an agent writing a private note (a contact's typing never is)."""
    await emit.conversation_typing(
        session,
        conversation,
        typing_status == "on",
        user=actor.user,
        contact=actor.contact,
        is_private=is_private and actor.user is not None,
    )
