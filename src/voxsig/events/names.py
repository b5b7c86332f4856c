"""The six webhook events (webhook-events.md)."""

from __future__ import annotations

CONVERSATION_CREATED = "conversation_created"
CONVERSATION_UPDATED = "conversation_updated"
CONVERSATION_STATUS_CHANGED = "conversation_status_changed"
MESSAGE_CREATED = "message_created"
MESSAGE_UPDATED = "message_updated"
WEBWIDGET_TRIGGERED = "webwidget_triggered"

ALL = (
    CONVERSATION_CREATED,
    CONVERSATION_UPDATED,
    CONVERSATION_STATUS_CHANGED,
    MESSAGE_CREATED,
    MESSAGE_UPDATED,
    WEBWIDGET_TRIGGERED,
)

DESCRIPTIONS = {
    CONVERSATION_CREATED: "A new conversation is created in the account.",
    CONVERSATION_UPDATED: "A tracked attribute of a conversation changes.",
    CONVERSATION_STATUS_CHANGED: "A conversation is resolved, reopened, snoozed or set pending.",
    MESSAGE_CREATED: "A message is created in a conversation (private notes included).",
    MESSAGE_UPDATED: "A message's content, form answers or status change, or it is deleted.",
    WEBWIDGET_TRIGGERED: "A visitor opens the live-chat widget.",
}
