"""Webhook request bodies, and documentation-only models of the answers (views/webhooks.py
builds them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StrictBool, StrictInt, field_validator

from voxsig.events.names import ALL, EventName
from voxsig.kit.clock import from_unix
from voxsig.kit.schema import Body, Id
from voxsig.models.webhook import (
    SYMMETRIC,
    VOXSIG_FORMAT,
    DeliveryStatus,
    PayloadFormat,
    Signing,
)
from voxsig.openapi import Doc, InboxRef, PageMeta, absent
from voxsig.outbox.target import normalise


def _check_url(url: str) -> str:
    """The URL as the HTTP client will see it (target.py): what is checked and stored.
    target.BadURL is a ValueError, so a bad one is a 422 naming `url`."""
    return normalise(url)


def _check_subscriptions(events: list[str]) -> list[str]:
    if not events:
        raise ValueError(f"subscribe to at least one event: {', '.join(ALL)}")
    unknown = [e for e in events if e not in ALL]
    if unknown:
        raise ValueError(f"unknown event {', '.join(unknown)}; allowed: {', '.join(ALL)}")
    return list(dict.fromkeys(events))


# Deliveries in flight at once to the endpoint, per worker; null: the default
# (VOXSIG_WEBHOOK_MAX_PER_ENDPOINT). The upper bound is the installation's (service.Limits).
MaxInFlight = Annotated[StrictInt, Field(ge=1)]


class WebhookCreate(Body):
    url: str = Field(max_length=2048)
    subscriptions: list[str]
    name: str = Field(default="", max_length=255)
    inbox_id: Id | None = None
    auto_recover: StrictBool = False
    max_in_flight: MaxInFlight | None = None
    payload_format: PayloadFormat = VOXSIG_FORMAT
    signing: Signing = SYMMETRIC

    _url = field_validator("url")(_check_url)
    _subs = field_validator("subscriptions")(_check_subscriptions)


class WebhookUpdate(Body):
    url: str | None = Field(default=None, max_length=2048)
    subscriptions: list[str] | None = None
    name: str | None = Field(default=None, max_length=255)
    inbox_id: Id | None = None
    enabled: bool | None = None
    auto_recover: StrictBool | None = None
    max_in_flight: MaxInFlight | None = None
    payload_format: PayloadFormat | None = None
    # A change is a rotation to a key of the new kind (the old one keeps signing for 24 h).
    signing: Signing | None = None
    # Only null is accepted: it dismisses the comeback recovery offer without recovering.
    recovery_offer: None = None

    @field_validator("url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        return None if url is None else _check_url(url)

    @field_validator("subscriptions")
    @classmethod
    def _subs(cls, events: list[str] | None) -> list[str] | None:
        return None if events is None else _check_subscriptions(events)


def unwrap(body: Any) -> Any:
    """Chatwoot wraps the fields in a `webhook` key; both shapes are accepted."""
    if isinstance(body, dict) and isinstance(body.get("webhook"), dict):
        return body["webhook"]
    return body


class Recover(Body):
    since: datetime

    @field_validator("since", mode="before")
    @classmethod
    def _unix_or_iso(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return from_unix(value)
        return value


# -- what the routes answer (documentation only: /openapi.json) ---------------------------------


class RecoveryOffer(Doc):
    """What failed while the endpoint was failing, offered for recovery once it came back."""

    since: datetime = Field(
        description="The failure streak's start (an earlier streak's, if its offer was not "
        "taken): what to POST to .../recover as `since`"
    )
    came_back_at: datetime = Field(description="Its first success after the streak")
    failed: int = Field(ge=1, description="Its deliveries that failed since `since`")


class BacklogObject(Doc):
    """How far behind the endpoint is (webhooks/backlog.py)."""

    pending: int = Field(ge=0, description="Its deliveries not yet settled")
    oldest_pending_at: datetime | None = Field(description="When the oldest of them was created")
    delivered_per_minute: float = Field(
        ge=0, description="Deliveries that succeeded, per minute over the last 5 minutes"
    )
    drain_estimate_seconds: int | None = Field(
        description="How long the pending ones would take at that rate; 0 when none is "
        "pending, null when nothing got through lately or the endpoint is disabled"
    )


class WebhookObject(Doc):
    """An endpoint (webhook_json): Chatwoot's fields, the signing secret and its health."""

    id: int
    name: str
    url: str
    account_id: int
    subscriptions: list[EventName]
    inbox: InboxRef | None = Field(description="Only this inbox's events; null for every inbox")
    secret: str | None = Field(
        description="Symmetric endpoints: the Standard Webhooks signing secret (whsec_…) "
        "that verifies their `v1` signatures. Null for asymmetric endpoints: their secret "
        "key (whsk_…) never leaves Voxsig, and receivers verify with `public_key`"
    )
    public_key: str | None = Field(
        description="Asymmetric endpoints: the ed25519 public key (whpk_…, base64 of its 32 "
        "bytes) that verifies their `v1a` signatures, holding no secret; null for symmetric "
        "endpoints"
    )
    enabled: bool
    disabled_reason: str | None
    payload_format: PayloadFormat = Field(
        description="The shape of the bodies it receives: `voxsig` (the documented events, "
        "the default for account webhooks) or `chatwoot` (what Chatwoot's server sends)"
    )
    signing: Signing = Field(
        description="How deliveries are signed (Standard Webhooks): `symmetric` (`v1`, "
        "HMAC-SHA256 with `secret`, the default) or `asymmetric` (`v1a`, ed25519, verified "
        "with `public_key`). Changing it is a rotation: the old key keeps signing beside the "
        "new one for 24 hours"
    )
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    recover_since: datetime = absent(
        "Only when this request re-enabled it: what to POST to .../recover as `since`"
    )
    auto_recover: bool = Field(
        description="When it comes back after a failure streak, recover what failed during "
        "the streak at once, instead of offering it (recovery_offer)"
    )
    max_in_flight: int = Field(
        ge=1,
        description="Deliveries sent to it at once, per worker: its own setting, or the "
        "default (VOXSIG_WEBHOOK_MAX_PER_ENDPOINT) when set to null",
    )
    backlog: BacklogObject
    recovery_offer: RecoveryOffer | None = Field(
        description="Made at its first success after a failure streak, while deliveries that "
        "failed since the streak began are left: POST .../recover with `since` to send them "
        "again, or PATCH recovery_offer: null to dismiss it. Null otherwise"
    )


class WebhookPayload(Doc):
    webhook: WebhookObject


class WebhookEnvelope(Doc):
    payload: WebhookPayload


class WebhookListPayload(Doc):
    webhooks: list[WebhookObject]


class WebhookList(Doc):
    payload: WebhookListPayload


class DeliveryObject(Doc):
    """One event to this endpoint (deliveries.delivery_json)."""

    id: int
    webhook_id: int
    event: EventName
    event_id: int
    message_id: str = Field(description="The `webhook-id` header, the same on every attempt")
    status: DeliveryStatus
    attempt_count: int = Field(ge=0, description="Attempts in the current round")
    next_attempt_at: datetime | None = Field(description="When pending: the next attempt")
    created_at: datetime
    updated_at: datetime


class AttemptObject(Doc):
    id: int
    started_at: datetime
    duration_ms: int
    response_status: int | None
    response_headers: dict[str, str]
    response_body: str = Field(description="The first 4 KiB of the receiver's answer")
    error_class: str | None = Field(
        description="timeout, connection, dns, ssrf_blocked, tls, http_status, or interrupted "
        "(a send whose outcome nobody recorded: the receiver may have it); null on success"
    )
    error_message: str | None


class DeliveryDetails(DeliveryObject):
    request_body: str = Field(description="The exact JSON sent (emptied after retention)")
    attempts: list[AttemptObject]


class DeliveryList(Doc):
    meta: PageMeta
    payload: list[DeliveryObject]


class DeliveryShown(Doc):
    payload: DeliveryDetails


class DeliveryRedelivered(Doc):
    payload: DeliveryObject


class RecoverCounts(Doc):
    redelivered: int = Field(description="Failed deliveries sent again")
    recovered: int = Field(description="Events it never got, now delivered")


class Recovered(Doc):
    payload: RecoverCounts
