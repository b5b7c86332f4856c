"""JSON Schemas of the webhook payloads, written from shared/spec/webhook-events.md and
payloads.md: every documented field present with its documented type."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

EVENTS = [
    "conversation_created",
    "conversation_updated",
    "conversation_status_changed",
    "message_created",
    "message_updated",
    "webwidget_triggered",
]
DATETIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"


def obj(required: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": required, **extra}


INT = {"type": "integer"}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
UNIX = {"type": "integer", "minimum": 0}
ACCOUNT = obj({"id": INT, "name": STR})
INBOX = obj({"id": INT, "name": STR})
CONTACT = obj(
    {"id": INT, "name": STR, "avatar": STR, "type": {"const": "contact"}, "account": ACCOUNT}
)
USER = obj({"id": INT, "name": STR, "email": STR, "type": {"const": "user"}})
BROWSER = obj(
    {
        k: STR
        for k in (
            "device_name",
            "browser_name",
            "platform_name",
            "browser_version",
            "platform_version",
        )
    }
)


def message_schema(with_conversation: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": INT,
        "content": STR,
        "message_type": {"type": "integer", "enum": [0, 1, 2, 3]},
        "created_at": UNIX,
        "private": BOOL,
        "source_id": {"type": ["string", "null"]},
        "content_type": {
            "enum": [
                "text",
                "input_text",
                "input_textarea",
                "input_email",
                "input_select",
                "cards",
                "form",
                "article",
                "incoming_email",
                "input_csat",
            ]
        },
        "content_attributes": {"type": "object"},
        "sender": {"anyOf": [CONTACT, USER, {"type": "null"}]},
        "account": ACCOUNT,
        "inbox": INBOX,
    }
    if with_conversation:
        fields["conversation"] = CONVERSATION
    # A sender is null only for messages nobody wrote: activity lines (never published) and
    # the inbox's greeting (template, message_type 3, as Chatwoot sends it).
    written = {
        "if": {"properties": {"message_type": {"enum": [0, 1]}}},
        "then": {"properties": {"sender": {"anyOf": [CONTACT, USER]}}},
    }
    return {**obj(fields), "allOf": [written]}


CONVERSATION = obj(
    {
        "additional_attributes": {
            "type": "object",
            "properties": {
                "browser": BROWSER,
                "referer": STR,
                "initiated_at": obj({"timestamp": STR}),
            },
        },
        "can_reply": BOOL,
        "channel": {"enum": ["Channel::WebWidget", "Channel::Api"]},
        "id": INT,
        "inbox_id": INT,
        "contact_inbox": obj(
            {
                "id": INT,
                "contact_id": INT,
                "inbox_id": INT,
                "source_id": STR,
                "created_at": {"type": "string", "pattern": DATETIME},
                "updated_at": {"type": "string", "pattern": DATETIME},
                "hmac_verified": BOOL,
            }
        ),
        "messages": {"type": "array", "maxItems": 1, "items": message_schema(False)},
        "meta": obj({"sender": CONTACT, "assignee": {"anyOf": [USER, {"type": "null"}]}}),
        "status": {"enum": ["open", "resolved", "pending", "snoozed"]},
        "unread_count": INT,
        "agent_last_seen_at": UNIX,
        "contact_last_seen_at": UNIX,
        "timestamp": UNIX,
        "account_id": INT,
    }
)

CHANGED = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "additionalProperties": obj({"current_value": {}, "previous_value": {}}),
    },
}


def event_schema(name: str) -> dict[str, Any]:
    event = {"event": {"const": name}}
    if name == "conversation_created":
        return {"allOf": [CONVERSATION, obj(event)]}
    if name in ("conversation_updated", "conversation_status_changed"):
        return {"allOf": [CONVERSATION, obj({**event, "changed_attributes": CHANGED})]}
    if name in ("message_created", "message_updated"):
        return {"allOf": [message_schema(True), obj(event)]}
    return obj(
        {
            **event,
            "id": INT,
            "contact": CONTACT,
            "inbox": INBOX,
            "account": ACCOUNT,
            "current_conversation": {"anyOf": [CONVERSATION, {"type": "null"}]},
            "source_id": STR,
            "event_info": obj(
                {
                    "initiated_at": obj({"timestamp": STR}),
                    "referer": STR,
                    "widget_language": STR,
                    "browser_language": STR,
                    "browser": BROWSER,
                }
            ),
        }
    )


def validate_event(payload: dict[str, Any]) -> None:
    """Raises jsonschema.ValidationError naming the first field that breaks the contract."""
    assert payload.get("event") in EVENTS, f"unknown event {payload.get('event')!r}"
    Draft202012Validator(event_schema(payload["event"])).validate(payload)
