"""Conversation request bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, RootModel, field_validator

from voxsig.kit.clock import as_utc, from_unix
from voxsig.kit.schema import Body, Id
from voxsig.models.conversation import Priority, Status
from voxsig.models.message import CONTENT_TYPES, MAX_CONTENT
from voxsig.openapi import Attributes, ConversationObject, Doc, UnixOrNull
from voxsig.users.schemas import AgentObject

LABEL_PATTERN = r"^[\w\-]{1,255}$"


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, tzinfo=UTC)


def _timestamp(value: Any) -> datetime | None:
    """Chatwoot sends snoozed_until as unix seconds; ISO strings are accepted too."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        if isinstance(value, str) and not value.isdigit():
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        elif isinstance(value, int | float | str) and not isinstance(value, bool):
            moment = from_unix(float(value))
        else:
            raise TypeError
        moment = as_utc(moment)
    except (TypeError, ValueError, OverflowError, OSError):
        raise ValueError("must be a unix timestamp (seconds) or an ISO 8601 time") from None
    if not EPOCH <= moment <= LATEST:
        raise ValueError("must be between 1970 and 9999")
    return moment


class FirstMessage(Body):
    content: str = Field(min_length=1, max_length=MAX_CONTENT)
    content_type: str = Field(default="text", max_length=32)
    content_attributes: dict[str, Any] = Field(default_factory=dict)
    private: bool = False

    @field_validator("content_type")
    @classmethod
    def _known_content_type(cls, value: str) -> str:
        if value not in CONTENT_TYPES:
            raise ValueError(f"must be one of {', '.join(CONTENT_TYPES)}")
        return value


class ConversationCreate(Body):
    inbox_id: Id
    source_id: str | None = Field(default=None, min_length=1, max_length=255)
    contact_id: Id | None = None
    # Absent: open, or pending in an inbox whose bot answers first.
    status: Status | None = None
    assignee_id: Id | None = None
    additional_attributes: dict[str, Any] = Field(default_factory=dict)
    custom_attributes: dict[str, Any] = Field(default_factory=dict)
    message: FirstMessage | None = None


class ConversationUpdate(Body):
    status: Status | None = None
    assignee_id: Id | None = None
    priority: Priority | Literal["none"] | None = None
    snoozed_until: datetime | None = None
    custom_attributes: dict[str, Any] | None = None
    additional_attributes: dict[str, Any] | None = None

    _ts = field_validator("snoozed_until", mode="before")(_timestamp)

    def wanted(self) -> dict[str, Any]:
        sent = self.model_dump(exclude_unset=True)
        if sent.get("priority") == "none":
            sent["priority"] = None
        for key in ("custom_attributes", "additional_attributes", "status"):
            if key in sent and sent[key] is None:
                del sent[key]
        return sent


class ToggleStatus(Body):
    status: Status | None = None
    snoozed_until: datetime | None = None

    _ts = field_validator("snoozed_until", mode="before")(_timestamp)


class TogglePriority(Body):
    priority: Priority | Literal["none"] | None


class ToggleTyping(Body):
    """Chatwoot's toggle_typing_status body: `is_private` while writing a private note."""

    typing_status: Literal["on", "off"]
    is_private: bool = False


class Assignment(Body):
    assignee_id: Id | None


class Labels(Body):
    labels: list[str] = Field(max_length=100)

    @field_validator("labels")
    @classmethod
    def _lowercase(cls, labels: list[str]) -> list[str]:
        import re

        cleaned = [label.strip().lower() for label in labels]
        for label in cleaned:
            if not re.match(LABEL_PATTERN, label):
                raise ValueError(f"{label!r} is not a label: use letters, digits, - and _")
        return cleaned


class CustomAttributes(Body):
    custom_attributes: dict[str, Any]


# -- what the routes answer (documentation only: /openapi.json) ---------------------------------


class ConversationCounts(Doc):
    """Counts of the conversations matching the filters, by assignee."""

    mine_count: int
    unassigned_count: int
    assigned_count: int
    all_count: int


class ConversationPage(Doc):
    meta: ConversationCounts
    payload: list[ConversationObject]


class ConversationList(Doc):
    data: ConversationPage


class ConversationCountsBody(Doc):
    meta: ConversationCounts


class StatusToggle(Doc):
    success: Literal[True]
    current_status: Status
    conversation_id: int
    snoozed_until: UnixOrNull


class StatusToggled(Doc):
    payload: StatusToggle


class AssignmentResult(RootModel[AgentObject | None]):
    """The assignee, or null when the conversation was unassigned."""


class LabelList(Doc):
    payload: list[str]


class ConversationCustomAttributes(Doc):
    custom_attributes: Attributes


class AgentSeen(Doc):
    id: int = Field(description="The conversation's number")
    agent_last_seen_at: int = Field(description="Unix time, UTC")
