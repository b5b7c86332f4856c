"""Contact request bodies and the contact JSON of the REST API."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from voxsig.events.payloads import contact_json, inbox_json
from voxsig.kit.clock import unix, unix_or_none
from voxsig.kit.schema import Body, Id
from voxsig.models import Account, Contact, ContactInbox, Inbox


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
