"""Contact request bodies and the contact JSON of the REST API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from voxsig.kit.clock import unix, unix_or_none
from voxsig.kit.schema import Body, Id
from voxsig.models import Account, Contact, ContactInbox, Inbox
from voxsig.openapi import ContactObject, ConversationObject, Doc, InboxRef, PageMeta, Unix
from voxsig.views.payloads import contact_json, inbox_json


class ContactFields(Body):
    name: str | None = Field(default=None, max_length=255)
    email: str | None = Field(default=None, max_length=255, pattern=r"^[^@\s]+@[^@\s]+$")
    phone_number: str | None = Field(default=None, max_length=64, pattern=r"^\+[1-9]\d{1,14}$")
    identifier: str | None = Field(default=None, max_length=255)
    avatar_url: str | None = Field(default=None, max_length=1024)
    custom_attributes: dict[str, Any] | None = None
    additional_attributes: dict[str, Any] | None = None


class ContactCreate(ContactFields):
    inbox_id: Id | None = None
    source_id: str | None = Field(default=None, min_length=1, max_length=255)


def contact_api_json(
    contact: Contact, account: Account, links: list[tuple[ContactInbox, Inbox]] | None = None
) -> dict[str, Any]:
    return {
        **contact_json(contact, account),
        "avatar_url": contact.avatar_url,
        "availability_status": "offline",
        "blocked": False,
        "created_at": unix(contact.created_at),
        "last_activity_at": unix_or_none(contact.last_activity_at),
        "contact_inboxes": [
            {"source_id": ci.source_id, "inbox_id": inbox.id, "inbox": inbox_json(inbox)}
            for ci, inbox in links or []
        ],
    }


# -- what the routes answer (documentation only: /openapi.json) ---------------------------------


class ContactInboxLink(Doc):
    source_id: str = Field(description="The contact's id in that inbox")
    inbox_id: int
    inbox: InboxRef


class ContactDetails(ContactObject):
    """A contact as the REST API shows it (contact_api_json): the Contact object and more."""

    avatar_url: str
    availability_status: Literal["online", "busy", "offline"]
    blocked: bool
    created_at: Unix
    last_activity_at: int | None = Field(description="Unix time of the latest activity, or null")
    contact_inboxes: list[ContactInboxLink]


class ContactList(Doc):
    meta: PageMeta
    payload: list[ContactDetails]


class ContactShown(Doc):
    payload: ContactDetails


class NewContactInbox(Doc):
    """The link made to `inbox_id`; every key null when no inbox was given."""

    inbox: InboxRef | None
    inbox_id: int | None
    source_id: str | None


class ContactCreatedPayload(Doc):
    contact: ContactDetails
    contact_inbox: NewContactInbox


class ContactCreated(Doc):
    payload: ContactCreatedPayload


class ContactConversations(Doc):
    payload: list[ConversationObject]
