"""Public API bodies and the (deliberately smaller) JSON a contact may see."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, RootModel

from voxsig.contacts.schemas import ContactFields
from voxsig.kit.clock import unix
from voxsig.kit.schema import Body
from voxsig.messages.schemas import FILES
from voxsig.models import Contact, ContactInbox
from voxsig.models.conversation import Status
from voxsig.models.message import MAX_CONTENT, ContentType
from voxsig.openapi import (
    AgentBotSender,
    AttachmentObject,
    Attributes,
    Doc,
    MessageType,
    Unix,
    absent,
)
from voxsig.views.payloads import bot_sender_json
from voxsig.views.snapshot import ConversationSnapshot, MessageSnapshot


class PublicContactCreate(ContactFields):
    identifier_hash: str | None = Field(default=None, max_length=128)


class PublicConversationCreate(Body):
    custom_attributes: dict[str, Any] = Field(default_factory=dict)


class ContactTyping(Body):
    """The contact's toggle_typing (public client API and widget), as Chatwoot's clients send
    it; a contact's typing is never private."""

    typing_status: Literal["on", "off"]


class PublicMessageCreate(Body):
    content: str = Field(min_length=1, max_length=MAX_CONTENT)
    echo_id: str | None = Field(default=None, max_length=255)


class PublicMessageForm(Body):
    """PublicMessageCreate as `multipart/form-data` (with files in `attachments[]`): the files
    may be the whole message, so the content may be empty; messages.service.check_message
    still wants text or a file."""

    content: str = Field(default="", max_length=MAX_CONTENT)
    echo_id: str | None = Field(default=None, max_length=255)


# PublicMessageForm in /openapi.json (openapi.request_body): all text fields, and the files.
PUBLIC_MESSAGE_FORM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "content": {"type": "string", "maxLength": MAX_CONTENT},
        "echo_id": {"type": "string", "maxLength": 255},
        "attachments[]": FILES,
    },
}


class PublicMessageUpdate(Body):
    submitted_values: list[dict[str, Any]] | dict[str, Any]


def public_contact_json(contact: Contact, link: ContactInbox) -> dict[str, Any]:
    return {
        "id": contact.id,
        "source_id": link.source_id,
        "name": contact.name,
        "email": contact.email,
        "phone_number": contact.phone_number,
        "pubsub_token": link.source_id,
    }


def public_message_json(
    snap: MessageSnapshot, conv: ConversationSnapshot, echo_id: str | None = None
) -> dict[str, Any]:
    m = snap.message
    sender: dict[str, Any] | None = None
    if snap.sender_contact is not None:
        sender = {"id": snap.sender_contact.id, "name": snap.sender_contact.name, "type": "contact"}
    elif snap.sender_user is not None:
        sender = {
            "id": snap.sender_user.id,
            "name": snap.sender_user.name,
            "avatar_url": snap.sender_user.avatar_url,
            "type": "user",
        }
    elif snap.sender_bot is not None:
        sender = bot_sender_json(snap.sender_bot)
    body = {
        "id": m.id,
        "content": m.content or "",
        "message_type": m.message_type,
        "content_type": m.content_type,
        "content_attributes": m.content_attributes or {},
        "created_at": unix(m.created_at),
        "conversation_id": conv.conversation.display_id,
        "attachments": snap.attachments,
        "sender": sender,
    }
    if echo_id:
        body["echo_id"] = echo_id
    return body


def public_conversation_json(
    conv: ConversationSnapshot, messages: list[dict[str, Any]]
) -> dict[str, Any]:
    c = conv.conversation
    return {
        "id": c.display_id,
        "inbox_id": c.inbox_id,
        "status": c.status,
        "contact_last_seen_at": unix(c.contact_last_seen_at),
        "agent_last_seen_at": unix(c.agent_last_seen_at),
        "messages": messages,
        "contact": {
            "id": conv.contact.id,
            "name": conv.contact.name,
            "email": conv.contact.email,
            "phone_number": conv.contact.phone_number,
        },
    }


# -- what the routes answer (documentation only: /openapi.json) ---------------------------------


class PublicContactObject(Doc):
    """The contact as the contact itself may see it."""

    id: int
    source_id: str = Field(description="The contact's identifier in this inbox")
    name: str
    email: str | None
    phone_number: str | None
    pubsub_token: str


class PublicContactSender(Doc):
    id: int
    name: str
    type: Literal["contact"]


class PublicUserSender(Doc):
    id: int
    name: str
    avatar_url: str
    type: Literal["user"]


PublicSender = Annotated[
    PublicContactSender | PublicUserSender | AgentBotSender, Field(discriminator="type")
]


class PublicMessageObject(Doc):
    """A message that is not a private note."""

    id: int
    content: str
    message_type: MessageType
    content_type: ContentType
    content_attributes: Attributes
    created_at: Unix
    conversation_id: int
    attachments: list[AttachmentObject]
    sender: PublicSender | None = Field(
        description="Who wrote it; null for the inbox's greeting (template)"
    )
    echo_id: str = absent("The `echo_id` the request sent, if it sent one")


class PublicConversationContact(Doc):
    id: int
    name: str
    email: str | None
    phone_number: str | None


class PublicConversationObject(Doc):
    id: int = Field(description="The conversation's number in its account")
    inbox_id: int
    status: Status
    contact_last_seen_at: Unix
    agent_last_seen_at: Unix
    messages: list[PublicMessageObject]
    contact: PublicConversationContact


class PublicConversationList(RootModel[list[PublicConversationObject]]):
    pass


class PublicMessageList(RootModel[list[PublicMessageObject]]):
    pass
