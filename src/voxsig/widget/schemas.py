"""Widget API bodies, and the JSON a visitor sees. Messages and conversations use the public
client API's (smaller) JSON, so a contact sees the same shape through either channel and never
an agent's private note or e-mail address."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator

from voxsig.conversations.schemas import LABEL_PATTERN
from voxsig.kit.schema import Body
from voxsig.models import Contact, ContactInbox, Inbox
from voxsig.models.message import MAX_CONTENT
from voxsig.openapi import Doc
from voxsig.public.schemas import (
    PUBLIC_MESSAGE_FORM,
    PublicContactCreate,
    PublicContactObject,
    PublicConversationObject,
    PublicMessageCreate,
    PublicMessageForm,
    PublicMessageObject,
    public_contact_json,
)

Referer = Field(default="", max_length=2048)


class InitiatedAt(Body):
    # The browser's own `new Date().toString()`, passed through unchanged (payloads.md).
    timestamp: str = Field(default="", max_length=255)


class EventInfo(Body):
    initiated_at: InitiatedAt = Field(default_factory=InitiatedAt)
    referer: str = Referer


class EventCreate(Body):
    name: Literal["webwidget.triggered"]
    event_info: EventInfo = Field(default_factory=EventInfo)


class WidgetMessageCreate(PublicMessageCreate):
    # The host page, reported by the widget: kept on the conversation this message starts.
    referer: str = Referer


class WidgetMessageForm(PublicMessageForm):
    """WidgetMessageCreate as `multipart/form-data`, files in `attachments[]`: no text needed
    when there are files."""

    referer: str = Referer


WIDGET_MESSAGE_FORM: dict[str, Any] = {
    **PUBLIC_MESSAGE_FORM,
    "properties": {
        **PUBLIC_MESSAGE_FORM["properties"],
        "referer": {"type": "string", "maxLength": 2048},
    },
}


class WidgetConversationCreate(Body):
    content: str | None = Field(default=None, min_length=1, max_length=MAX_CONTENT)
    echo_id: str | None = Field(default=None, max_length=255)
    referer: str = Referer
    custom_attributes: dict[str, Any] = Field(default_factory=dict)


class WidgetContactUpdate(Body):
    """What `$voxsig.setCustomAttributes` and a profile update may change; the identifier
    only changes through set_user, where it can be verified."""

    name: str | None = Field(default=None, max_length=255)
    email: str | None = Field(default=None, max_length=255, pattern=r"^[^@\s]+@[^@\s]+$")
    phone_number: str | None = Field(default=None, max_length=64, pattern=r"^\+[1-9]\d{1,14}$")
    avatar_url: str | None = Field(default=None, max_length=1024)
    custom_attributes: dict[str, Any] | None = None


class SetUser(PublicContactCreate):
    identifier: str = Field(min_length=1, max_length=255)


# Custom attribute names the widget may delete, as Chatwoot's widget sends them: a list (one
# name, usually); a bare name is taken as a list of one.
def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


AttributeName = Annotated[str, Field(min_length=1, max_length=255)]
AttributeNames = Annotated[
    list[AttributeName], BeforeValidator(_listed), Field(min_length=1, max_length=100)
]


class ContactAttributesDelete(Body):
    """`$chatwoot.deleteCustomAttribute(key)`: Chatwoot's `{"custom_attributes": [key]}`."""

    custom_attributes: AttributeNames


class ConversationAttributesSet(Body):
    """`$chatwoot.setConversationCustomAttributes({...})`: they replace the conversation's
    custom_attributes, as Chatwoot's `conversation.update!(custom_attributes: ...)` does."""

    custom_attributes: dict[str, Any]


class ConversationAttributesDelete(Body):
    """`$chatwoot.deleteConversationCustomAttribute(key)`: Chatwoot's
    `{"custom_attribute": [key]}` (singular, as its widget sends it)."""

    custom_attribute: AttributeNames


class WidgetLabel(Body):
    """`$chatwoot.setLabel(label)`; a label is stored lowercase, as the REST API stores it."""

    label: str = Field(min_length=1, max_length=255)

    @field_validator("label")
    @classmethod
    def _label(cls, label: str) -> str:
        return checked_label(label)


def checked_label(label: str) -> str:
    cleaned = label.strip().lower()
    if not re.match(LABEL_PATTERN, cleaned):
        raise ValueError(f"{label!r} is not a label: use letters, digits, - and _")
    return cleaned


def widget_contact_json(contact: Contact, link: ContactInbox) -> dict[str, Any]:
    return {
        **public_contact_json(contact, link),
        "identifier": contact.identifier,
        "avatar_url": contact.avatar_url,
        "hmac_verified": link.hmac_verified,
    }


def website_channel_config(inbox: Inbox) -> dict[str, Any]:
    """What the widget page needs to look like its inbox; nothing secret (no hmac_token)."""
    return {
        "website_token": inbox.website_token,
        "website_name": inbox.name,
        "website_url": inbox.website_url,
        "widget_color": inbox.widget_color,
        "welcome_title": inbox.welcome_title,
        "welcome_tagline": inbox.welcome_tagline,
        "greeting_enabled": inbox.greeting_enabled,
        "greeting_message": inbox.greeting_message,
        "hmac_mandatory": inbox.hmac_mandatory,
    }


def config_json(inbox: Inbox, contact: Contact, link: ContactInbox, token: str) -> dict[str, Any]:
    return {
        "website_channel_config": website_channel_config(inbox),
        "contact": widget_contact_json(contact, link),
        "auth_token": token,
    }


# -- what the routes answer (documentation only: /openapi.json) ---------------------------------


class WidgetContact(PublicContactObject):
    """The visitor's contact (widget_contact_json)."""

    identifier: str | None
    avatar_url: str
    hmac_verified: bool


class IdentifiedContact(WidgetContact):
    auth_token: str = Field(description="The visitor token to keep from now on")


class WebsiteChannelConfig(Doc):
    website_token: str
    website_name: str
    website_url: str
    widget_color: str
    welcome_title: str
    welcome_tagline: str
    greeting_enabled: bool
    greeting_message: str
    hmac_mandatory: bool


class WidgetConfig(Doc):
    website_channel_config: WebsiteChannelConfig
    contact: WidgetContact
    auth_token: str = Field(description="The visitor token: send it as X-Auth-Token")


class WidgetMessages(Doc):
    """The visitor's current conversation (null before their first message) and its messages
    (the conversation's own `messages` is empty here)."""

    conversation: PublicConversationObject | None
    payload: list[PublicMessageObject]
