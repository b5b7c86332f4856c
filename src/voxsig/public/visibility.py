"""What a contact (a widget visitor, a client of the public API) may see of their conversation:
the messages they and the agents wrote, never a private note and never an activity line.

Activity lines ("Sam Agent added billing", "Assigned to …", "set the priority to urgent", "was
resolved by …") are the agents' own log: they name agents, labels and priorities, so none of
them reaches a contact. A contact learns that a conversation was resolved or reopened from the
conversation's `status`, which every contact-facing conversation object carries.

One SQL predicate, applied in the query (before any LIMIT), so a page of history is always full
and paging never skips a message because hidden ones took its place.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.models import Conversation, Message
from voxsig.models.message import ACTIVITY


def visible_to_contact() -> ColumnElement[bool]:
    return and_(Message.private.is_(False), Message.message_type != ACTIVITY)


async def visible_message(
    session: AsyncSession, conversation: Conversation, message_id: int
) -> Message | None:
    """A message of `conversation` that its contact may see, or None."""
    return await session.scalar(
        select(Message).where(
            Message.id == message_id,
            Message.conversation_id == conversation.id,
            visible_to_contact(),
        )
    )
