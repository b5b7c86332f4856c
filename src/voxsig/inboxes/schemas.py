"""Inbox request bodies (Chatwoot's shape: fields top-level or under `channel`) and inbox JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, StrictBool, field_validator

from voxsig.inboxes.website import normalise_website_url
from voxsig.kit.clock import iso_offset
from voxsig.kit.schema import Body
from voxsig.models import Inbox
from voxsig.models.inbox import WEB_WIDGET
from voxsig.models.webhook import PayloadFormat, Signing
from voxsig.openapi import Channel, Doc, absent
from voxsig.outbox.target import normalise
from voxsig.webhooks.schemas import MaxInFlight

HexColor = Field(default=None, pattern=r"^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$")


class ChannelFields(Body):
    website_url: str | None = Field(default=None, max_length=1024)
    widget_color: str | None = HexColor
    welcome_title: str | None = Field(default=None, max_length=255)
    welcome_tagline: str | None = Field(default=None, max_length=1024)
    # An API inbox's callback: called with every event of the inbox. "" means none (Chatwoot's
    # own examples send it), on create and on update.
    webhook_url: str | None = Field(default=None, max_length=2048)
    hmac_mandatory: bool | None = None

    @field_validator("website_url")
    @classmethod
    def _website(cls, value: str | None) -> str | None:
        """ "acme.example" is https://acme.example; what is not a web address is a 422."""
        return None if value is None else normalise_website_url(value)

    @field_validator("webhook_url")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        """The URL as the HTTP client will see it (outbox.target), or "" for none."""
        if value is None or not value.strip():
            return None if value is None else ""
        return normalise(value.strip())


class ChannelCreate(ChannelFields):
    type: Literal["web_widget", "api"]


class InboxFields(Body):
    greeting_enabled: bool | None = None
    greeting_message: str | None = Field(default=None, max_length=1024)


class InboxCreate(InboxFields):
    name: str = Field(min_length=1, max_length=255)
    channel: ChannelCreate


class InboxUpdate(InboxFields, ChannelFields):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    channel: ChannelFields | None = None

    def changes(self) -> dict[str, Any]:
        """Every field the client sent, from the top level or from `channel`."""
        top = self.model_dump(exclude_unset=True, exclude={"channel"})
        nested = self.channel.model_dump(exclude_unset=True) if self.channel else {}
        return {**nested, **top}


class CallbackUpdate(Body):
    """What an administrator sets on an inbox's callback besides its URL (the inbox's
    `webhook_url`): the same settings as an account webhook's."""

    enabled: StrictBool | None = None
    auto_recover: StrictBool | None = None
    max_in_flight: MaxInFlight | None = None
    payload_format: PayloadFormat | None = None
    signing: Signing | None = None
    # Only null is accepted: it dismisses the comeback recovery offer without recovering.
    recovery_offer: None = None


def embed_script(inbox: Inbox, base_url: str) -> str:
    base = base_url.rstrip("/")
    return (
        "<script>\n"
        "  (function(d,t) {\n"
        f'    var BASE_URL="{base}";\n'
        "    var g=d.createElement(t),s=d.getElementsByTagName(t)[0];\n"
        '    g.src=BASE_URL+"/packs/js/sdk.js"; g.defer=true; g.async=true;\n'
        "    s.parentNode.insertBefore(g,s);\n"
        "    g.onload=function(){\n"
        f'      window.voxsigSDK.run({{websiteToken: "{inbox.website_token}",\n'
        "        baseUrl: BASE_URL});\n"
        "    }\n"
        '  })(document,"script");\n'
        "</script>\n"
    )


def inbox_api_json(inbox: Inbox, base_url: str, *, show_secrets: bool) -> dict[str, Any]:
    widget = inbox.channel_type == WEB_WIDGET
    body: dict[str, Any] = {
        "id": inbox.id,
        "account_id": inbox.account_id,
        # Voxsig keeps channel settings on the inbox itself, so the channel id is the inbox id.
        "channel_id": inbox.id,
        "name": inbox.name,
        "channel_type": inbox.channel_type,
        "avatar_url": "",
        "greeting_enabled": inbox.greeting_enabled,
        "greeting_message": inbox.greeting_message,
        "website_url": inbox.website_url if widget else None,
        "widget_color": inbox.widget_color if widget else None,
        "welcome_title": inbox.welcome_title if widget else None,
        "welcome_tagline": inbox.welcome_tagline if widget else None,
        "website_token": inbox.website_token,
        "web_widget_script": embed_script(inbox, base_url) if widget else None,
        "widget_preview_url": (
            f"{base_url.rstrip('/')}/widget/preview?website_token={inbox.website_token}"
            if widget
            else None
        ),
        "inbox_identifier": inbox.inbox_identifier,
        "webhook_url": inbox.webhook_url or None,
        "hmac_mandatory": inbox.hmac_mandatory,
        "enable_email_collect": False,
        "csat_survey_enabled": False,
        "working_hours_enabled": False,
        "allow_messages_after_resolved": True,
        "enable_auto_assignment": False,
        "created_at": iso_offset(inbox.created_at),
        "updated_at": iso_offset(inbox.updated_at),
    }
    if show_secrets:
        body["hmac_token"] = inbox.hmac_token
    return body


# -- what the routes answer (documentation only: /openapi.json) ---------------------------------

WIDGET_ONLY = "A web widget inbox's; null for an API inbox"


class InboxObject(Doc):
    """An inbox (inbox_api_json). Channel settings live on the inbox: `channel_id` is its id."""

    id: int
    account_id: int
    channel_id: int
    name: str
    channel_type: Channel
    avatar_url: str
    greeting_enabled: bool
    greeting_message: str
    website_url: str | None = Field(description=WIDGET_ONLY)
    widget_color: str | None = Field(description=WIDGET_ONLY)
    welcome_title: str | None = Field(description=WIDGET_ONLY)
    welcome_tagline: str | None = Field(description=WIDGET_ONLY)
    website_token: str | None = Field(description="The widget's public token (web widget)")
    web_widget_script: str | None = Field(description="The snippet to embed; " + WIDGET_ONLY)
    widget_preview_url: str | None = Field(description="A sample page; " + WIDGET_ONLY)
    inbox_identifier: str | None = Field(description="The public client API's id (API inbox)")
    webhook_url: str | None
    hmac_mandatory: bool
    enable_email_collect: bool
    csat_survey_enabled: bool
    working_hours_enabled: bool
    allow_messages_after_resolved: bool
    enable_auto_assignment: bool
    created_at: datetime
    updated_at: datetime
    hmac_token: str = absent("Identity verification key; shown to administrators only")


class InboxList(Doc):
    payload: list[InboxObject]
