"""A contact's answer to a question message (`submitted_values`), for the widget and the public
client API alike: only a message that asks for input takes one, and only once, so a visitor
cannot store "answers" on an agent's plain reply nor rewrite one already given (each would fire
message_updated to every webhook)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.errors import Invalid
from voxsig.messages import service as messages
from voxsig.models import Message
from voxsig.models.message import INCOMING

# Chatwoot's interactive types that ask the contact something; `cards` only with actions.
QUESTIONS = ("input_text", "input_textarea", "input_email", "input_select", "form", "input_csat")
FIELD = "submitted_values"


def asks_for_input(message: Message) -> bool:
    if message.message_type == INCOMING:
        return False  # the contact's own words ask the contact nothing
    if message.content_type in QUESTIONS:
        return True
    if message.content_type == "cards":
        items = (message.content_attributes or {}).get("items")
        return isinstance(items, list) and any(
            isinstance(item, dict) and item.get("actions") for item in items
        )
    return False


async def submit(session: AsyncSession, message: Message, values: Any) -> None:
    """Stores the answer and fires message_updated; 422 naming submitted_values when the
    message asks nothing or was answered already."""
    # Read again under a row lock (PostgreSQL; SQLite has one writer): two answers sent at
    # once cannot both see the question unanswered.
    locked = await session.scalar(
        select(Message)
        .where(Message.id == message.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if locked is None or not asks_for_input(locked):
        raise Invalid("This message asks for no answer", field=FIELD)
    if FIELD in (locked.content_attributes or {}):
        raise Invalid("This message was answered already", field=FIELD)
    await messages.update_message(session, locked, {"content_attributes": {FIELD: values}})
