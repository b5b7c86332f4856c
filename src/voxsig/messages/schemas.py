"""Message request bodies."""

from __future__ import annotations

from typing import Any, get_args

from pydantic import Field, field_validator

from voxsig.kit.schema import Body
from voxsig.models.message import MAX_CONTENT, MESSAGE_TYPES, ContentType, MessageStatus
from voxsig.openapi import Doc, MessageObject, UnixOrNull


class MessageCreate(Body):
    """Checked again, with the same rules, by messages.service.check_message (the dashboard's
    composer and the widget reach it without this model)."""

    content: str | None = Field(default=None, max_length=MAX_CONTENT)
    message_type: int | str = Field(default="outgoing", validate_default=True)
    private: bool = False
    content_type: ContentType = "text"
    content_attributes: dict[str, Any] = Field(default_factory=dict)
    source_id: str | None = Field(default=None, max_length=255)

    @field_validator("message_type")
    @classmethod
    def _known_type(cls, value: int | str) -> int:
        """Names as Chatwoot's API takes them (incoming, outgoing), or their numbers 0 and 1."""
        if isinstance(value, str) and value in ("0", "1"):  # a form field's text
            value = int(value)
        number = MESSAGE_TYPES.get(value) if isinstance(value, str) else value
        if number not in (0, 1):
            raise ValueError("must be 'incoming' or 'outgoing' (or 0 / 1)")
        return number


class MessageUpdate(Body):
    content: str | None = Field(default=None, max_length=MAX_CONTENT)
    content_attributes: dict[str, Any] | None = None
    status: MessageStatus | None = None


# -- what the routes answer (documentation only: /openapi.json) ---------------------------------


class MessageListMeta(Doc):
    contact_last_seen_at: UnixOrNull
    agent_last_seen_at: UnixOrNull


class MessageList(Doc):
    """Up to a page of messages, oldest first."""

    meta: MessageListMeta
    payload: list[MessageObject]


# The form a message with files is (openapi.request_body): Chatwoot's fields, all text.
FILES: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string", "format": "binary"},
    "description": "The files; their type is taken from their content",
}
MESSAGE_FORM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "content": {"type": "string", "maxLength": MAX_CONTENT},
        "message_type": {"type": "string", "enum": ["incoming", "outgoing", "0", "1"]},
        "private": {"type": "string", "enum": ["true", "false"]},
        "content_type": {"type": "string", "enum": list(get_args(ContentType))},
        "content_attributes": {"type": "string", "description": "A JSON object, as text"},
        "source_id": {"type": "string", "maxLength": 255},
        "attachments[]": FILES,
    },
}
