"""The tracked-change engine: every change of a tracked attribute goes through `apply_changes`,
which writes only what really changed, records the activity messages Chatwoot adds, and reports
the `Changes` (the events layer publishes them). The untracked writes (last seen, last activity)
sit beside it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.conversations.lookup import check_assignee, labels_of
from voxsig.events import emit
from voxsig.kit.clock import unix_or_none, utcnow
from voxsig.models import AgentBot, Contact, Conversation, ConversationLabel, Message, User
from voxsig.models.message import ACTIVITY

# The attributes whose changes fire conversation_updated (payloads.md), in the order reported.
TRACKED = (
    "status",
    "assignee_id",
    "priority",
    "snoozed_until",
    "custom_attributes",
    "additional_attributes",
    "labels",
)


@dataclass
class Actor:
    """Who made a change, for activity messages: an agent, the contact, an agent bot, or the
    system."""

    user: User | None = None
    contact: Contact | None = None
    bot: AgentBot | None = None

    @property
    def name(self) -> str:
        if self.user is not None:
            return self.user.name
        if self.contact is not None:
            return self.contact.name or "the contact"
        if self.bot is not None:
            return self.bot.name
        return "Voxsig"


@dataclass
class Changes:
    """Tracked attributes that changed: name -> (previous, current), in JSON form."""

    values: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.values)

    @property
    def status_changed(self) -> bool:
        return "status" in self.values


def _json_value(name: str, value: Any) -> Any:
    """A tracked value as the Conversation object shows it."""
    if name == "snoozed_until":
        return unix_or_none(value)
    if name in ("custom_attributes", "additional_attributes"):
        return dict(value or {})
    return value


async def apply_changes(
    session: AsyncSession,
    conversation: Conversation,
    actor: Actor,
    wanted: dict[str, Any],
    *,
    activity: str | None = None,
) -> Changes:
    """Sets the tracked attributes in `wanted` (labels: the full new list), adds the activity
    messages Chatwoot adds (or the one `activity` line instead, which says why), and returns
    only what really changed."""
    changes = Changes()
    if wanted.get("assignee_id") is not None:
        await check_assignee(session, conversation.account_id, wanted["assignee_id"])
    if "status" in wanted and wanted["status"] != "snoozed" and "snoozed_until" not in wanted:
        wanted = {**wanted, "snoozed_until": None}
    for name in TRACKED:
        if name not in wanted:
            continue
        if name == "labels":
            before: Any = await labels_of(session, conversation)
            after: Any = sorted(set(wanted["labels"]))
            if before != after:
                await _set_labels(session, conversation, after)
        else:
            before = _json_value(name, getattr(conversation, name))
            after = _json_value(name, wanted[name])
            if before != after:
                setattr(conversation, name, wanted[name])
        if before != after:
            changes.values[name] = (before, after)
    if changes:
        conversation.updated_at = utcnow()
        await session.flush()
        if activity is None:
            await _record_activity(session, conversation, actor, changes)
        else:
            await add_activity(session, conversation, activity)
        await emit.conversation_changed(session, conversation, changes.values)
    return changes


async def _set_labels(session: AsyncSession, conversation: Conversation, labels: list[str]) -> None:
    await session.execute(
        delete(ConversationLabel).where(ConversationLabel.conversation_id == conversation.id)
    )
    session.add_all(ConversationLabel(conversation_id=conversation.id, title=t) for t in labels)
    await session.flush()


STATUS_ACTIVITY = {
    "resolved": "Conversation was resolved by {actor}",
    "open": "Conversation was reopened by {actor}",
    "pending": "Conversation was marked as pending by {actor}",
    "snoozed": "Conversation was snoozed by {actor}",
}


# Pending is where a bot holds a conversation: opening it hands it to the agents.
HANDOVER_ACTIVITY = "Conversation was handed over to the agents by {actor}"


async def _record_activity(
    session: AsyncSession, conversation: Conversation, actor: Actor, changes: Changes
) -> None:
    lines = []
    if changes.status_changed:
        handover = changes.values["status"] == ("pending", "open")
        line = HANDOVER_ACTIVITY if handover else STATUS_ACTIVITY[conversation.status]
        lines.append(line.format(actor=actor.name))
    if "assignee_id" in changes.values:
        if conversation.assignee_id is None:
            lines.append(f"Conversation was unassigned by {actor.name}")
        else:
            assignee = await session.get(User, conversation.assignee_id)
            name = assignee.name if assignee else "an agent"
            lines.append(f"Assigned to {name} by {actor.name}")
    if "priority" in changes.values:
        lines.append(f"{actor.name} set the priority to {conversation.priority or 'none'}")
    if "labels" in changes.values:
        before, after = changes.values["labels"]
        added = [x for x in after if x not in before]
        removed = [x for x in before if x not in after]
        if added:
            lines.append(f"{actor.name} added {', '.join(added)}")
        if removed:
            lines.append(f"{actor.name} removed {', '.join(removed)}")
    for line in lines:
        await add_activity(session, conversation, line)


async def add_activity(session: AsyncSession, conversation: Conversation, content: str) -> Message:
    message = Message(
        account_id=conversation.account_id,
        inbox_id=conversation.inbox_id,
        conversation_id=conversation.id,
        content=content,
        message_type=ACTIVITY,
        content_type="text",
        content_attributes={},
        attachments=[],  # known empty: rendering it later loads nothing
    )
    session.add(message)
    await session.flush()
    return message


def toggled_status(current: str, requested: str | None) -> str:
    """Chatwoot's toggle: an explicit status wins; otherwise open <-> resolved, others -> open."""
    if requested:
        return requested
    return "resolved" if current == "open" else "open"


def mark_seen(conversation: Conversation, *, by_agent: bool) -> None:
    """Last-seen times are not tracked attributes: they change nothing that webhooks report."""
    if by_agent:
        conversation.agent_last_seen_at = utcnow()
    else:
        conversation.contact_last_seen_at = utcnow()


def touch(conversation: Conversation, moment: datetime) -> None:
    conversation.last_activity_at = moment
