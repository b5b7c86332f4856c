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

# Chatwoot's interactive types that ask the contact something; `cards` only with a postback
# action (a link action opens a page and answers nothing).
QUESTIONS = ("input_text", "input_textarea", "input_email", "input_select", "form", "input_csat")
FIELD = "submitted_values"
CSAT = "csat_survey_response"
RATINGS = range(1, 6)  # Chatwoot's CSAT scale
CSAT_SHAPE = (
    'must be {"csat_survey_response": {"rating": 1 to 5, "feedback_message": text}} '
    "for a CSAT survey"
)


def asks_for_input(message: Message) -> bool:
    if message.message_type == INCOMING:
        return False  # the contact's own words ask the contact nothing
    if message.content_type in QUESTIONS:
        return True
    if message.content_type == "cards":
        return _has_postback((message.content_attributes or {}).get("items"))
    return False


def _has_postback(items: Any) -> bool:
    if not isinstance(items, list):
        return False
    actions = [item.get("actions") for item in items if isinstance(item, dict)]
    return any(
        isinstance(action, dict) and action.get("type") == "postback"
        for listed in actions
        if isinstance(listed, list)
        for action in listed
    )


def _check_csat(values: Any) -> None:
    """A CSAT answer is a rating on the scale and, optionally, feedback text: the one answer
    whose shape is fixed (reports and integrations read the rating as a number)."""
    response = values[CSAT] if isinstance(values, dict) and list(values) == [CSAT] else None
    if not isinstance(response, dict) or set(response) - {"rating", "feedback_message"}:
        raise Invalid(CSAT_SHAPE, field=FIELD)
    rating, feedback = response.get("rating"), response.get("feedback_message", "")
    # bool is an int to Python, and True is no rating.
    if isinstance(rating, bool) or not isinstance(rating, int) or rating not in RATINGS:
        raise Invalid(CSAT_SHAPE, field=FIELD)
    if feedback is not None and not isinstance(feedback, str):
        raise Invalid(CSAT_SHAPE, field=FIELD)


async def submit(session: AsyncSession, message: Message, values: Any) -> None:
    """Stores the answer and fires message_updated; 422 naming submitted_values when the
    message asks nothing, was answered already, or is a CSAT survey answered off its scale."""
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
    if locked.content_type == "input_csat":
        _check_csat(values)
    await messages.update_message(session, locked, {"content_attributes": {FIELD: values}})
