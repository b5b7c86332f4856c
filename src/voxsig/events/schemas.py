"""JSON Schemas (draft 2020-12) of every event's body in each payload format: the source of
truth that `GET /api/v1/webhook_events` serves and the test suite validates every delivered
body against.

Strict: every key listed and required unless it is sometimes left out (never sent as null),
`additionalProperties: false` on every fixed shape; only `custom_attributes`,
`additional_attributes`, `content_attributes`, the widget's `event_info` browser details and
`changed_attributes` values are free-form. The voxsig schemas follow docs/webhook-events.md
and docs/payloads.md (views/payloads.py builds them); the chatwoot ones
docs/payload-formats.md (views/formats.py builds them). Built once, at import.
"""

from __future__ import annotations

from typing import Any, Final

from voxsig.events.names import (
    ALL,
    CONTACT_CREATED,
    CONTACT_UPDATED,
    CONVERSATION_CREATED,
    CONVERSATION_OPENED,
    CONVERSATION_RESOLVED,
    CONVERSATION_STATUS_CHANGED,
    CONVERSATION_TYPING_OFF,
    CONVERSATION_TYPING_ON,
    CONVERSATION_UPDATED,
    MESSAGE_CREATED,
    MESSAGE_UPDATED,
    WEBWIDGET_TRIGGERED,
)
from voxsig.models.conversation import PRIORITIES, STATUSES
from voxsig.models.message import CONTENT_TYPES, MESSAGE_STATUSES, MESSAGE_TYPES
from voxsig.models.webhook import CHATWOOT_FORMAT, PAYLOAD_FORMATS, VOXSIG_FORMAT

Schema = dict[str, Any]
DIALECT = "https://json-schema.org/draft/2020-12/schema"
DATETIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"
TRACKED = ("status", "assignee_id", "priority", "snoozed_until", "custom_attributes",
           "additional_attributes", "labels")  # fmt: skip
# contacts.service.TRACKED: what contact_updated reports, by the Contact object's names.
CONTACT_TRACKED = ("name", "email", "phone_number", "identifier", "avatar", "custom_attributes",
                   "additional_attributes")  # fmt: skip


def obj(properties: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    """An object of exactly these keys; all required but `optional`."""
    return {
        "type": "object",
        "properties": properties,
        "required": [k for k in properties if k not in optional],
        "additionalProperties": False,
    }


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


INT: Final[Schema] = {"type": "integer"}
STR: Final[Schema] = {"type": "string"}
BOOL: Final[Schema] = {"type": "boolean"}
NUMBER: Final[Schema] = {"type": "number"}
UNIX: Final[Schema] = {"type": "integer", "minimum": 0}
FREE: Final[Schema] = {"type": "object"}
DATETIME: Final[Schema] = {"type": "string", "pattern": DATETIME_PATTERN}
STR_OR_NULL: Final[Schema] = {"type": ["string", "null"]}
STATUS: Final[Schema] = {"enum": list(STATUSES)}
PRIORITY: Final[Schema] = {"enum": [*PRIORITIES, None]}
CHANNEL: Final[Schema] = {"enum": ["Channel::WebWidget", "Channel::Api"]}
CONTENT_TYPE: Final[Schema] = {"enum": list(CONTENT_TYPES)}
MESSAGE_STATUS: Final[Schema] = {"enum": list(MESSAGE_STATUSES)}
MESSAGE_TYPE_NUMBER: Final[Schema] = {"enum": list(MESSAGE_TYPES.values())}
MESSAGE_TYPE_NAME: Final[Schema] = {"enum": list(MESSAGE_TYPES)}
ACCOUNT: Final[Schema] = obj({"id": INT, "name": STR})
INBOX: Final[Schema] = obj({"id": INT, "name": STR})
CONTACT_INBOX: Final[Schema] = obj(
    {
        "id": INT,
        "contact_id": INT,
        "inbox_id": INT,
        "source_id": STR,
        "created_at": DATETIME,
        "updated_at": DATETIME,
        "hmac_verified": BOOL,
    }
)
# What the widget reports, as webwidget_triggered's event_info carries it.
EVENT_INFO: Final[Schema] = {
    "type": "object",
    "properties": {
        "initiated_at": obj({"timestamp": STR}),
        "referer": STR,
        "widget_language": STR,
        "browser_language": STR,
        "browser": FREE,
    },
    "required": ["initiated_at", "referer", "widget_language", "browser_language", "browser"],
    "additionalProperties": False,
}


def changed_attributes(keys: tuple[str, ...] | None, first: str, second: str) -> Schema:
    """A list of single-key objects `{attribute: {first: …, second: …}}` (the formats order
    the two differently); `keys` names the attributes that may appear (None: any)."""
    change = obj({first: {}, second: {}})
    item: Schema = {
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "additionalProperties": change,
    }
    if keys is not None:
        item["propertyNames"] = {"enum": list(keys)}
    return {"type": "array", "minItems": 1, "items": item}


# -- voxsig: docs/webhook-events.md, docs/payloads.md, views/payloads.py -----------------------

V_CONTACT: Final[Schema] = obj(
    {
        "id": INT,
        "name": STR,
        "avatar": STR,
        "type": {"const": "contact"},
        "account": ACCOUNT,
        "email": STR_OR_NULL,
        "phone_number": STR_OR_NULL,
        "identifier": STR_OR_NULL,
        "thumbnail": STR,
        "custom_attributes": FREE,
        "additional_attributes": FREE,
    }
)
V_USER: Final[Schema] = obj({"id": INT, "name": STR, "email": STR, "type": {"const": "user"}})
V_BOT: Final[Schema] = obj(
    {"id": INT, "name": STR, "avatar_url": STR, "type": {"const": "agent_bot"}}
)
URL: Final[Schema] = {"type": "string", "pattern": "^https?://"}
# Chatwoot's Attachment#push_event_data of a stored file (views/attachments.py).
C_ATTACHMENT: Final[Schema] = obj(
    {
        "id": INT,
        "message_id": INT,
        "file_type": {"enum": ["image", "audio", "video", "file", "location", "fallback"]},
        "account_id": INT,
        "extension": STR_OR_NULL,
        "data_url": URL,
        "thumb_url": {"anyOf": [URL, {"const": ""}]},
        "file_size": INT,
        "width": {"type": ["integer", "null"]},
        "height": {"type": ["integer", "null"]},
    }
)
# The voxsig format adds the file's display name and content type.
V_ATTACHMENT: Final[Schema] = obj(
    {**C_ATTACHMENT["properties"], "file_name": STR, "content_type": STR}
)
ATTACHMENTS: Final[Schema] = {"type": "array", "minItems": 1, "items": C_ATTACHMENT}
# The events a conversation's body alone makes (the bot's, as Chatwoot's webhook_data).
PLAIN_CONVERSATION_EVENTS = (CONVERSATION_CREATED, CONVERSATION_OPENED, CONVERSATION_RESOLVED)


def _v_message(conversation: Schema | None) -> Schema:
    fields: dict[str, Schema] = {
        "id": INT,
        "content": STR,
        "message_type": MESSAGE_TYPE_NUMBER,
        "created_at": UNIX,
        "private": BOOL,
        "source_id": STR_OR_NULL,
        "content_type": CONTENT_TYPE,
        "content_attributes": FREE,
        "sender": {"anyOf": [V_CONTACT, V_USER, V_BOT, {"type": "null"}]},
        "account": ACCOUNT,
        "inbox": INBOX,
        "conversation_id": INT,
        "inbox_id": INT,
        "account_id": INT,
        "status": MESSAGE_STATUS,
        "updated_at": UNIX,
        "attachments": {"type": "array", "items": V_ATTACHMENT},
    }
    if conversation is not None:
        fields["conversation"] = conversation
    return {**obj(fields), "allOf": [_WRITTEN_HAS_SENDER]}


# A sender is null only for messages nobody wrote: activity lines (never published) and the
# inbox's greeting (template, message_type 3, as Chatwoot sends it).
_WRITTEN_HAS_SENDER: Final[Schema] = {
    "if": {"properties": {"message_type": {"enum": [0, 1, "incoming", "outgoing"]}}},
    "then": {"properties": {"sender": {"not": {"type": "null"}}}},
}

V_CONVERSATION_FIELDS: Final[dict[str, Schema]] = {
    "additional_attributes": FREE,
    "can_reply": BOOL,
    "channel": CHANNEL,
    "id": INT,
    "inbox_id": INT,
    "contact_inbox": CONTACT_INBOX,
    "messages": {"type": "array", "maxItems": 1, "items": _v_message(None)},
    "meta": obj({"sender": V_CONTACT, "assignee": nullable(V_USER), "hmac_verified": BOOL}),
    "status": STATUS,
    "unread_count": INT,
    "agent_last_seen_at": UNIX,
    "contact_last_seen_at": UNIX,
    "timestamp": UNIX,
    "account_id": INT,
    "assignee_id": {"type": ["integer", "null"]},
    "priority": PRIORITY,
    "snoozed_until": {"type": ["integer", "null"]},
    "labels": {"type": "array", "items": STR},
    "custom_attributes": FREE,
    "created_at": UNIX,
    "updated_at": UNIX,
    "last_activity_at": UNIX,
    "contact_id": INT,
}
V_CONVERSATION: Final[Schema] = obj(V_CONVERSATION_FIELDS)


def _voxsig(name: str) -> Schema:
    event = {"event": {"const": name}}
    if name in PLAIN_CONVERSATION_EVENTS:
        return obj({**V_CONVERSATION_FIELDS, **event})
    if name in (CONVERSATION_UPDATED, CONVERSATION_STATUS_CHANGED):
        keys = ("status",) if name == CONVERSATION_STATUS_CHANGED else TRACKED
        changes = changed_attributes(keys, "current_value", "previous_value")
        return obj({"changed_attributes": changes, **V_CONVERSATION_FIELDS, **event})
    if name in (MESSAGE_CREATED, MESSAGE_UPDATED):
        message = _v_message(V_CONVERSATION)
        return {**message, **obj({**message["properties"], **event})}
    if name == WEBWIDGET_TRIGGERED:
        return obj(
            {
                "id": INT,
                "contact": V_CONTACT,
                "inbox": INBOX,
                "account": ACCOUNT,
                "current_conversation": nullable(V_CONVERSATION),
                "source_id": STR,
                **event,
                "event_info": EVENT_INFO,
            }
        )
    if name in (CONVERSATION_TYPING_ON, CONVERSATION_TYPING_OFF):
        return obj(
            {
                **event,
                "user": {"anyOf": [V_USER, V_CONTACT]},
                "conversation": V_CONVERSATION,
                "is_private": BOOL,
            }
        )
    if name == CONTACT_CREATED:
        return obj({**event, **V_CONTACT["properties"]})
    if name == CONTACT_UPDATED:
        changes = changed_attributes(CONTACT_TRACKED, "current_value", "previous_value")
        return obj({**event, "changed_attributes": changes, **V_CONTACT["properties"]})
    raise ValueError(name)


# -- chatwoot: docs/payload-formats.md, views/formats.py ---------------------------------------

C_CONTACT_WEBHOOK: Final[Schema] = obj(
    {
        "account": ACCOUNT,
        "additional_attributes": FREE,
        "avatar": STR,
        "custom_attributes": FREE,
        "email": STR_OR_NULL,
        "id": INT,
        "identifier": STR_OR_NULL,
        "name": STR,
        "phone_number": STR_OR_NULL,
        "thumbnail": STR,
        "blocked": BOOL,
    }
)
C_CONTACT_PUSH: Final[Schema] = obj(
    {
        "additional_attributes": FREE,
        "custom_attributes": FREE,
        "email": STR_OR_NULL,
        "id": INT,
        "identifier": STR_OR_NULL,
        "name": STR,
        "phone_number": STR_OR_NULL,
        "thumbnail": STR,
        "blocked": BOOL,
        "type": {"const": "contact"},
    }
)
C_USER_WEBHOOK: Final[Schema] = V_USER
C_BOT_WEBHOOK: Final[Schema] = obj({"id": INT, "name": STR, "type": {"const": "agent_bot"}})
C_BOT_PUSH: Final[Schema] = V_BOT
C_USER_PUSH: Final[Schema] = obj(
    {
        "id": INT,
        "name": STR,
        "available_name": STR,
        "avatar_url": STR,
        "type": {"const": "user"},
        "availability_status": {"enum": ["online", "offline", "busy", None]},
        "thumbnail": STR,
    }
)
C_MESSAGE_PUSH: Final[Schema] = {
    **obj(
        {
            "id": INT,
            "content": STR_OR_NULL,
            "account_id": INT,
            "inbox_id": INT,
            "conversation_id": INT,
            "message_type": MESSAGE_TYPE_NUMBER,
            "created_at": UNIX,
            "updated_at": DATETIME,
            "private": BOOL,
            "status": MESSAGE_STATUS,
            "source_id": STR_OR_NULL,
            "content_type": CONTENT_TYPE,
            "content_attributes": FREE,
            "sender_type": {"enum": ["Contact", "User", "AgentBot", None]},
            "sender_id": {"type": ["integer", "null"]},
            "external_source_ids": FREE,
            "additional_attributes": FREE,
            "processed_message_content": STR_OR_NULL,
            "sentiment": FREE,
            "conversation": obj(
                {
                    "assignee_id": {"type": ["integer", "null"]},
                    "unread_count": INT,
                    "last_activity_at": UNIX,
                    "contact_inbox": obj({"source_id": STR}),
                }
            ),
            "attachments": ATTACHMENTS,
            "sender": {"anyOf": [C_CONTACT_PUSH, C_USER_PUSH, C_BOT_PUSH]},
        },
        optional=("attachments", "sender"),
    ),
    "allOf": [
        {
            "if": {"properties": {"message_type": {"enum": [0, 1]}}},
            "then": {"required": ["sender"]},
        }
    ],
}
C_CONVERSATION_FIELDS: Final[dict[str, Schema]] = {
    "additional_attributes": FREE,
    "can_reply": BOOL,
    "channel": CHANNEL,
    "contact_inbox": CONTACT_INBOX,
    "id": INT,
    "inbox_id": INT,
    "messages": {
        "type": "array",
        "maxItems": 1,
        # messages.chat: never a private note
        "items": {
            **C_MESSAGE_PUSH,
            "properties": {**C_MESSAGE_PUSH["properties"], "private": {"const": False}},
        },
    },
    "labels": {"type": "array", "items": STR},
    "meta": obj(
        {
            "sender": C_CONTACT_PUSH,
            "assignee": nullable(C_USER_PUSH),
            "team": {"type": "null"},
            "hmac_verified": BOOL,
        }
    ),
    "status": STATUS,
    "custom_attributes": FREE,
    "snoozed_until": nullable(DATETIME),
    "unread_count": INT,
    "first_reply_created_at": nullable(DATETIME),
    "priority": PRIORITY,
    "waiting_since": UNIX,
    "agent_last_seen_at": UNIX,
    "contact_last_seen_at": UNIX,
    "last_activity_at": UNIX,
    "timestamp": UNIX,
    "created_at": UNIX,
    "updated_at": {"type": "number", "minimum": 0},
}
C_CONVERSATION: Final[Schema] = obj(C_CONVERSATION_FIELDS)
C_SENDER_WEBHOOK: Final[Schema] = {
    "anyOf": [C_CONTACT_WEBHOOK, C_USER_WEBHOOK, C_BOT_WEBHOOK, {"type": "null"}]
}


def _chatwoot(name: str) -> Schema:
    event = {"event": {"const": name}}
    if name in PLAIN_CONVERSATION_EVENTS:
        return obj({**C_CONVERSATION_FIELDS, **event})
    if name in (CONVERSATION_UPDATED, CONVERSATION_STATUS_CHANGED):
        keys = ("status",) if name == CONVERSATION_STATUS_CHANGED else TRACKED
        changes = changed_attributes(keys, "previous_value", "current_value")
        return obj({**C_CONVERSATION_FIELDS, **event, "changed_attributes": changes})
    if name in (MESSAGE_CREATED, MESSAGE_UPDATED):
        fields = {
            "account": ACCOUNT,
            "additional_attributes": FREE,
            "content_attributes": FREE,
            "content_type": CONTENT_TYPE,
            "content": STR_OR_NULL,
            "conversation": C_CONVERSATION,
            "created_at": DATETIME,
            "id": INT,
            "inbox": INBOX,
            "message_type": MESSAGE_TYPE_NAME,
            "private": BOOL,
            "sender": C_SENDER_WEBHOOK,
            "source_id": STR_OR_NULL,
            "attachments": ATTACHMENTS,
            **event,
        }
        return {**obj(fields, optional=("attachments",)), "allOf": [_WRITTEN_HAS_SENDER]}
    if name == WEBWIDGET_TRIGGERED:
        return obj(
            {
                "id": INT,
                "contact": C_CONTACT_WEBHOOK,
                "inbox": INBOX,
                "account": ACCOUNT,
                "current_conversation": nullable(C_CONVERSATION),
                "source_id": STR,
                **event,
                "event_info": EVENT_INFO,
            }
        )
    if name in (CONVERSATION_TYPING_ON, CONVERSATION_TYPING_OFF):
        return obj(
            {
                **event,
                "user": {"anyOf": [C_USER_WEBHOOK, C_CONTACT_WEBHOOK]},
                "conversation": C_CONVERSATION,
                "is_private": BOOL,
            }
        )
    if name == CONTACT_CREATED:
        return obj({**C_CONTACT_WEBHOOK["properties"], **event})
    if name == CONTACT_UPDATED:
        changes = changed_attributes(CONTACT_TRACKED, "previous_value", "current_value")
        return obj({**C_CONTACT_WEBHOOK["properties"], **event, "changed_attributes": changes})
    raise ValueError(name)


def _document(schema: Schema, name: str, payload_format: str) -> Schema:
    return {
        "$schema": DIALECT,
        "title": f"{name} ({payload_format})",
        **schema,
    }


SCHEMAS: Final[dict[str, dict[str, Schema]]] = {
    name: {
        VOXSIG_FORMAT: _document(_voxsig(name), name, VOXSIG_FORMAT),
        CHATWOOT_FORMAT: _document(_chatwoot(name), name, CHATWOOT_FORMAT),
    }
    for name in ALL
}
assert all(set(s) == set(PAYLOAD_FORMATS) for s in SCHEMAS.values())


def schema(name: str, payload_format: str) -> Schema:
    """The JSON Schema of event `name`'s body in `payload_format`."""
    return SCHEMAS[name][payload_format]
