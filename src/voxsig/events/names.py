"""The webhook events: the six of webhook-events.md, and Chatwoot's contact, typing and agent-bot
events."""

from __future__ import annotations

from typing import Final, Literal, get_args

EventName = Literal[
    "conversation_created",
    "conversation_updated",
    "conversation_status_changed",
    "message_created",
    "message_updated",
    "webwidget_triggered",
    "contact_created",
    "contact_updated",
    "conversation_typing_on",
    "conversation_typing_off",
    "conversation_opened",
    "conversation_resolved",
]
# The constants below are typed EventName: mypy refuses one that is not in it.
ALL: Final[tuple[EventName, ...]] = get_args(EventName)

CONVERSATION_CREATED: Final[EventName] = "conversation_created"
CONVERSATION_UPDATED: Final[EventName] = "conversation_updated"
CONVERSATION_STATUS_CHANGED: Final[EventName] = "conversation_status_changed"
MESSAGE_CREATED: Final[EventName] = "message_created"
MESSAGE_UPDATED: Final[EventName] = "message_updated"
WEBWIDGET_TRIGGERED: Final[EventName] = "webwidget_triggered"
CONTACT_CREATED: Final[EventName] = "contact_created"
CONTACT_UPDATED: Final[EventName] = "contact_updated"
CONVERSATION_TYPING_ON: Final[EventName] = "conversation_typing_on"
CONVERSATION_TYPING_OFF: Final[EventName] = "conversation_typing_off"
CONVERSATION_OPENED: Final[EventName] = "conversation_opened"
CONVERSATION_RESOLVED: Final[EventName] = "conversation_resolved"

# What an API inbox's callback URL receives, as in Chatwoot: every event of the inbox (contact
# events belong to the account, and a widget event to widget inboxes).
INBOX_CALLBACK: Final[tuple[EventName, ...]] = (
    CONVERSATION_CREATED,
    CONVERSATION_UPDATED,
    CONVERSATION_STATUS_CHANGED,
    MESSAGE_CREATED,
    MESSAGE_UPDATED,
    CONVERSATION_TYPING_ON,
    CONVERSATION_TYPING_OFF,
)

# What an agent bot receives, as in Chatwoot (AgentBotListener): the events of the inboxes it is
# attached to.
AGENT_BOT: Final[tuple[EventName, ...]] = (
    MESSAGE_CREATED,
    MESSAGE_UPDATED,
    WEBWIDGET_TRIGGERED,
    CONVERSATION_OPENED,
    CONVERSATION_RESOLVED,
)

DESCRIPTIONS = {
    CONVERSATION_CREATED: "A new conversation is created in the account.",
    CONVERSATION_UPDATED: "A tracked attribute of a conversation changes.",
    CONVERSATION_STATUS_CHANGED: "A conversation is resolved, reopened, snoozed or set pending.",
    MESSAGE_CREATED: "A message is created in a conversation (private notes included).",
    MESSAGE_UPDATED: "A message's content, form answers or status change, or it is deleted.",
    WEBWIDGET_TRIGGERED: "A visitor opens the live-chat widget.",
    CONTACT_CREATED: "A contact is created (REST API, public client API, widget visitor).",
    CONTACT_UPDATED: "A contact's name, email, phone, identifier or attributes change.",
    CONVERSATION_TYPING_ON: "An agent or the contact starts typing in a conversation.",
    CONVERSATION_TYPING_OFF: "An agent or the contact stops typing in a conversation.",
    CONVERSATION_OPENED: "A conversation is opened (reopened, or handed over by a bot).",
    CONVERSATION_RESOLVED: "A conversation is resolved.",
}
