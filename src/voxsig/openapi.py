"""The response side of /openapi.json: documentation-only models of the JSON the API returns, the
error shape, and the statuses each route declares (`responses=`).

Nothing here runs on a request: `views/payloads.py`, the `*_json` builders and the routers build
the JSON, and these models only describe it (the hostile-input fuzz checks every answer against
them). A model lists every key its builder writes and no other (`additionalProperties: false`);
only genuinely open objects (`custom_attributes`, `additional_attributes`, `content_attributes`)
are free-form.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from voxsig.models.conversation import Priority
from voxsig.models.conversation import Status as ConversationStatus
from voxsig.models.message import ContentType, MessageStatus

if TYPE_CHECKING:
    from fastapi import FastAPI

JSON = dict[str, Any]
Responses = dict[int | str, dict[str, Any]]


class Doc(BaseModel):
    """A documented JSON object: these keys, and no other."""

    model_config = ConfigDict(extra="forbid")


def _no_default(schema: JSON) -> None:
    schema.pop("default", None)


def absent(description: str) -> Any:
    """A key that is sometimes left out (never sent as null): optional in the schema."""
    return Field(default=None, description=description, json_schema_extra=_no_default)


# -- values ------------------------------------------------------------------------------------

Unix = Annotated[
    int, Field(description="Unix time in seconds, UTC; 0 when the moment never happened")
]
UnixOrNull = Annotated[int | None, Field(description="Unix time in seconds, UTC, or null")]
Attributes = Annotated[dict[str, Any], Field(description="Free-form JSON object, {} when empty")]
Channel = Literal["Channel::WebWidget", "Channel::Api"]  # models/inbox.py
MessageType = Annotated[
    Literal[0, 1, 2, 3],
    Field(
        description="0 incoming (contact), 1 outgoing (agent), 2 activity, 3 template (the "
        "inbox's greeting)"
    ),
]


# -- errors ------------------------------------------------------------------------------------


class ErrorItem(Doc):
    field: str = Field(description="The field as the client sent it: `email`, `labels.0`, `body`")
    message: str


class ErrorBody(Doc):
    """Every error answer (errors.py): a code, a sentence, and one entry per field at fault."""

    error: str = Field(
        description="validation_failed, malformed_json, unauthorized, forbidden, not_found, "
        "payload_too_large, headers_too_large, request_timeout, rate_limited, bad_request, …"
    )
    message: str
    errors: list[ErrorItem]


ERRORS: dict[int, str] = {
    400: "Malformed JSON body, or a NUL character (%00) in the URL",
    401: "No API access token (header `api_access_token`), or not a valid one",
    403: "Only administrators of this account may do this",
    404: "Not found in your account (another account, or an id that names nothing)",
    408: "The request body did not arrive within VOXSIG_BODY_TIMEOUT (30 s by default)",
    413: "The request body is larger than VOXSIG_MAX_BODY_BYTES (1 MiB by default)",
    422: "Invalid input; `errors` names each field at fault",
    429: "Too many requests; `Retry-After` says in how many seconds to try again",
    431: "The request headers are larger than 32 KiB",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def errors(*statuses: int | tuple[int, str]) -> Responses:
    """`responses=` entries for error statuses, each with the one error shape: `404`, or
    `(404, "what it means here")` where the generic description does not fit the route."""
    declared: Responses = {}
    for item in statuses:
        status, description = item if isinstance(item, tuple) else (item, ERRORS[item])
        entry: JSON = {"model": ErrorBody, "description": description}
        if status == 429:
            entry["headers"] = RETRY_AFTER
        declared[status] = entry
    return declared


# What the request guard (kit/request_guard.py) may answer on any route, before it runs.
GUARDED = errors(400, 408, 413, 431)


def ok(model: Any, description: str = "Successful Response") -> Responses:
    """The 200 answer's JSON body."""
    return {200: {"model": model, "description": description}}


def ok_empty(description: str, status: int = 200) -> Responses:
    """An answer without a body (and without a content type); pair it with
    `response_class=Response` on the route, or FastAPI documents a JSON body."""
    return {status: {"description": description}}


def request_body(model: type[BaseModel], form: JSON) -> JSON:
    """`openapi_extra` of a route that reads its body itself: JSON as `model`, or
    `multipart/form-data` as `form` (a message with files)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": model.model_json_schema()},
                "multipart/form-data": {"schema": form},
            },
        }
    }


class PageMeta(Doc):
    count: int = Field(description="How many there are in all")
    current_page: int


# -- the objects of webhook-events.md, as views/payloads.py builds them -------------------------


class AccountRef(Doc):
    id: int
    name: str


class InboxRef(Doc):
    id: int
    name: str


class UserObject(Doc):
    """An agent or administrator."""

    id: int
    name: str
    email: str
    type: Literal["user"]


class ContactObject(Doc):
    id: int
    name: str
    avatar: str = Field(description="A URL, or empty")
    type: Literal["contact"]
    account: AccountRef
    email: str | None
    phone_number: str | None
    identifier: str | None
    thumbnail: str
    custom_attributes: Attributes
    additional_attributes: Attributes


class ContactInboxObject(Doc):
    """A contact as seen by one inbox; `source_id` is the contact's id there."""

    id: int
    contact_id: int
    inbox_id: int
    source_id: str
    created_at: datetime
    updated_at: datetime
    hmac_verified: bool


class AgentBotSender(Doc):
    """An agent bot (Chatwoot's AgentBot#push_event_data)."""

    id: int
    name: str
    avatar_url: str = Field(description="A URL, or empty")
    type: Literal["agent_bot"]


Sender = Annotated[ContactObject | UserObject | AgentBotSender, Field(discriminator="type")]


class AttachmentObject(Doc):
    """A file of a message (Chatwoot's Attachment#push_event_data, with the name and type).
    Its links are signed and expire (VOXSIG_ATTACHMENT_URL_SECONDS); every read signs anew."""

    id: int
    message_id: int
    file_type: Literal["image", "audio", "video", "file"]
    account_id: int
    extension: str = Field(description="From the content, e.g. png, pdf")
    data_url: str = Field(description="The file's bytes: an absolute, signed, expiring URL")
    thumb_url: str = Field(description="A thumbnail of an image (250 px at most), or empty")
    file_size: int = Field(description="Bytes")
    width: int | None = Field(description="Pixels, for images")
    height: int | None = Field(description="Pixels, for images")
    file_name: str = Field(description="As sent, for display only")
    content_type: str = Field(description="From the content, never from the name")


class MessageObject(Doc):
    """A message, without its conversation object."""

    id: int
    content: str
    message_type: MessageType
    created_at: Unix
    private: bool = Field(description="An agent's private note")
    source_id: str | None
    content_type: ContentType
    content_attributes: Attributes
    sender: Sender | None = Field(
        description="The contact, the agent or the agent bot; null for activity and for the "
        "greeting (template)"
    )
    account: AccountRef
    inbox: InboxRef
    conversation_id: int = Field(description="The conversation's number in its account")
    inbox_id: int
    account_id: int
    status: MessageStatus
    updated_at: Unix
    attachments: list[AttachmentObject]


class ConversationMetaObject(Doc):
    sender: ContactObject
    assignee: UserObject | None
    hmac_verified: bool


class ConversationObject(Doc):
    """A conversation; `id` is its number within the account, as in every path."""

    additional_attributes: Attributes
    can_reply: bool
    channel: Channel
    id: int
    inbox_id: int
    contact_inbox: ContactInboxObject
    messages: list[MessageObject] = Field(
        max_length=1, description="The latest message that is not an activity message, or none"
    )
    meta: ConversationMetaObject
    status: ConversationStatus
    unread_count: int = Field(ge=0)
    agent_last_seen_at: Unix
    contact_last_seen_at: Unix
    timestamp: Unix = Field(description="The last activity")
    account_id: int
    assignee_id: int | None
    priority: Priority | None
    snoozed_until: UnixOrNull
    labels: list[str]
    custom_attributes: Attributes
    created_at: Unix
    updated_at: Unix
    last_activity_at: Unix
    contact_id: int


# -- the document ------------------------------------------------------------------------------


def _documented_only(schema: JSON) -> JSON:
    """FastAPI merges the schema of a route's return annotation (`dict[str, Any]`, which only
    drives serialization) beside the `$ref` of the model declared in `responses=`: keep the
    declared model alone."""
    return {"$ref": schema["$ref"]} if "$ref" in schema else schema


def _fastapi_422(response: JSON) -> bool:
    """The 422 FastAPI adds to every route with parameters, in a shape Voxsig never sends
    (routes that can answer 422 declare it, with the one error shape)."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def document(app: FastAPI) -> JSON:
    """app.openapi(): FastAPI's document, with the responses exactly as declared."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    spec = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
    )
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            responses: JSON = operation.get("responses", {})
            for status, response in list(responses.items()):
                if status == "422" and _fastapi_422(response):
                    del responses[status]
                    continue
                for media in response.get("content", {}).values():
                    if "schema" in media:
                        media["schema"] = _documented_only(media["schema"])
    schemas = spec.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    app.openapi_schema = spec
    return spec
