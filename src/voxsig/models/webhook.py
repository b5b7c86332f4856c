"""Webhook endpoints, the events published to them, and each delivery of an event."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import JSON, ForeignKey, Index, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from voxsig.kit.clock import utcnow
from voxsig.models.base import Base, Timestamps

DeliveryStatus = Literal["pending", "succeeded", "failed"]
DELIVERY_STATUSES: tuple[DeliveryStatus, ...] = get_args(DeliveryStatus)
PENDING, SUCCEEDED, FAILED = DELIVERY_STATUSES

# Who owns an endpoint: an account (its webhooks, subscribed by choice), an API inbox (its
# `webhook_url`, called with every event of the inbox) or an agent bot (its `outgoing_url`,
# called with Chatwoot's bot events of the inboxes it is attached to).
EndpointKind = Literal["account", "inbox", "agent_bot"]
ENDPOINT_KINDS: tuple[EndpointKind, ...] = get_args(EndpointKind)
ACCOUNT_ENDPOINT, INBOX_ENDPOINT, BOT_ENDPOINT = ENDPOINT_KINDS
# The shape of the bodies an endpoint receives: the seed document's, or Chatwoot's server's.
PayloadFormat = Literal["voxsig", "chatwoot"]
PAYLOAD_FORMATS: tuple[PayloadFormat, ...] = get_args(PayloadFormat)
VOXSIG_FORMAT, CHATWOOT_FORMAT = PAYLOAD_FORMATS
# Standard Webhooks v1 (HMAC-SHA256, a shared secret) or v1a (ed25519, a public key).
Signing = Literal["symmetric", "asymmetric"]
SIGNINGS: tuple[Signing, ...] = get_args(Signing)
SYMMETRIC, ASYMMETRIC = SIGNINGS


class Webhook(Timestamps, Base):
    __tablename__ = "webhooks"
    __table_args__ = (
        # An account's webhooks have distinct URLs; an inbox has at most one callback.
        Index(
            "uq_webhooks_account_url",
            "account_id",
            "url",
            unique=True,
            sqlite_where=text("kind = 'account'"),
            postgresql_where=text("kind = 'account'"),
        ),
        Index(
            "uq_webhooks_inbox_callback",
            "inbox_id",
            unique=True,
            sqlite_where=text("kind = 'inbox'"),
            postgresql_where=text("kind = 'inbox'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # Null: every inbox of the account (a bot: the inboxes it is attached to). Set: only that
    # inbox's events.
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    # A bot's endpoint: deleted with the bot, with its log.
    agent_bot_id: Mapped[int | None] = mapped_column(
        ForeignKey("agent_bots.id", ondelete="CASCADE"), unique=True
    )
    name: Mapped[str] = mapped_column(String(255), default="")
    url: Mapped[str] = mapped_column(String(2048))
    subscriptions: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(128))
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(1024))
    disabled_at: Mapped[datetime | None]
    # Start of the current run of failed attempts; cleared by any success.
    failing_since: Mapped[datetime | None]
    # During a rotation the old secret keeps signing beside the new one until it expires.
    previous_secret: Mapped[str | None] = mapped_column(String(128))
    previous_secret_expires_at: Mapped[datetime | None]
    # Deliveries in flight at once to this endpoint, per worker; null: the global default
    # (VOXSIG_WEBHOOK_MAX_PER_ENDPOINT). Never above VOXSIG_WEBHOOK_MAX_IN_FLIGHT.
    max_in_flight: Mapped[int | None]
    # When it comes back after a failure streak, what failed during the streak is offered for
    # recovery: the streak's start and the moment of its first success, until recovered or
    # dismissed. With `auto_recover`, the recovery runs by itself at the comeback.
    recovery_offer_since: Mapped[datetime | None]
    recovery_offer_at: Mapped[datetime | None]
    auto_recover: Mapped[bool] = mapped_column(default=False, server_default=false())
    kind: Mapped[str] = mapped_column(
        String(16), default=ACCOUNT_ENDPOINT, server_default=ACCOUNT_ENDPOINT
    )
    payload_format: Mapped[str] = mapped_column(
        String(16), default=VOXSIG_FORMAT, server_default=VOXSIG_FORMAT
    )
    signing: Mapped[str] = mapped_column(String(16), default=SYMMETRIC, server_default=SYMMETRIC)


class Event(Base):
    """A published event. `body` is the payload rendered once, at publish time: every delivery,
    retry and replay sends exactly these bytes."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    inbox_id: Mapped[int | None]
    name: Mapped[str] = mapped_column(String(64))
    # Events of one conversation reach one endpoint in order (see Delivery.ordering_key).
    conversation_id: Mapped[int | None]
    body: Mapped[str] = mapped_column(Text)
    # The same event in Chatwoot's shapes, rendered only when an endpoint in that format
    # subscribes (else null: sent in the `voxsig` shape).
    chatwoot_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Timestamps, Base):
    """One event to one endpoint: the outbox row the worker claims, sends and records."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_ordering", "webhook_id", "ordering_key", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    webhook_id: Mapped[int] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    # The `webhook-id` header: the same on every retry and replay, so receivers can deduplicate.
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    # Which of the event's bodies it sends: its endpoint's format when it was queued, so every
    # retry and replay sends the same bytes.
    payload_format: Mapped[str] = mapped_column(
        String(16), default=VOXSIG_FORMAT, server_default=VOXSIG_FORMAT
    )
    # The conversation whose events must arrive in order; null for events of no conversation.
    ordering_key: Mapped[int | None]
    # Attempts in the current round; a redelivery starts a new round (history: attempts rows).
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A claim is a lease: a worker that dies mid-send loses nothing, the lease just runs out
    # (or is taken over as soon as its worker's heartbeat stops). Recording an outcome clears
    # all three; a claim that finds them set knows the last send was interrupted.
    locked_until: Mapped[datetime | None]
    leased_by: Mapped[str | None] = mapped_column(String(64))
    leased_at: Mapped[datetime | None]


class Worker(Base):
    """A running worker process, for as long as its heartbeat is fresh: a lease held by a
    worker whose heartbeat stopped is taken over without waiting for the lease to run out."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryAttempt(Base):
    """One try of a delivery, recorded whatever happened."""

    __tablename__ = "delivery_attempts"
    # Recent attempts, for an endpoint's drain rate (webhooks/backlog.py): append-only, unlike
    # any index on the deliveries' status, which every settled delivery would move.
    __table_args__ = (Index("ix_delivery_attempts_started_at", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime]
    duration_ms: Mapped[int]
    response_status: Mapped[int | None]
    response_headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    response_body: Mapped[str] = mapped_column(Text, default="")
    error_class: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(String(1024))
