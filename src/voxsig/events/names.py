"""The six webhook events (webhook-events.md)."""

from __future__ import annotations

from typing import Final, Literal, get_args

EventName = Literal[
    "conversation_created",
    "conversation_updated",
    "conversation_status_changed",
    "message_created",
    "message_updated",
    "webwidget_triggered",
]
# The constants below are typed EventName: mypy refuses one that is not in it.
ALL: Final[tuple[EventName, ...]] = get_args(EventName)

CONVERSATION_CREATED: Final[EventName] = "conversation_created"
CONVERSATION_UPDATED: Final[EventName] = "conversation_updated"
CONVERSATION_STATUS_CHANGED: Final[EventName] = "conversation_status_changed"
MESSAGE_CREATED: Final[EventName] = "message_created"
MESSAGE_UPDATED: Final[EventName] = "message_updated"
WEBWIDGET_TRIGGERED: Final[EventName] = "webwidget_triggered"

DESCRIPTIONS = {
    CONVERSATION_CREATED: "A new conversation is created in the account.",
    CONVERSATION_UPDATED: "A tracked attribute of a conversation changes.",
    CONVERSATION_STATUS_CHANGED: "A conversation is resolved, reopened, snoozed or set pending.",
    MESSAGE_CREATED: "A message is created in a conversation (private notes included).",
    MESSAGE_UPDATED: "A message's content, form answers or status change, or it is deleted.",
    WEBWIDGET_TRIGGERED: "A visitor opens the live-chat widget.",
}
