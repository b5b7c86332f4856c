"""The JSON of an account's webhook endpoint (Chatwoot's shape, plus secret, health and the
comeback recovery offer), of one delivery to it, and of one attempt of a delivery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from voxsig.kit.clock import iso, iso_offset, iso_offset_or_none
from voxsig.models import Delivery, DeliveryAttempt, Event, Inbox, Webhook
from voxsig.models.webhook import ASYMMETRIC, CHATWOOT_FORMAT, PENDING
from voxsig.outbox.signing import public_key, signing_of
from voxsig.views.payloads import JSON, inbox_json

# The rate a drain estimate assumes: successes in this window, over the part of it that had
# any (a burst that began a minute ago is not spread over five), and never less than
# RATE_FLOOR (one success a moment ago is no rate yet).
RATE_WINDOW = timedelta(minutes=5)
RATE_FLOOR = timedelta(seconds=10)


@dataclass(frozen=True)
class Backlog:
    pending: int = 0
    oldest_pending_at: datetime | None = None
    delivered_recently: int = 0  # succeeded within RATE_WINDOW
    # How long ago the first of those succeeded.
    delivering_for: timedelta = RATE_WINDOW

    @property
    def per_second(self) -> float:
        span = min(RATE_WINDOW, max(RATE_FLOOR, self.delivering_for))
        return self.delivered_recently / span.total_seconds()

    @property
    def per_minute(self) -> float:
        return self.per_second * 60

    @property
    def drain_seconds(self) -> float | None:
        """At the recent rate; None when nothing got through lately (no rate to go by)."""
        if not self.pending:
            return 0.0
        if not self.delivered_recently:
            return None
        return self.pending / self.per_second


@dataclass(frozen=True)
class Standing:
    """What an endpoint's answer tells of its deliveries, counted for many at once by the
    caller: how far behind it is, and what failed since its comeback offer's start
    (webhooks.deliveries.failed_since_offers)."""

    backlog: Backlog
    failed_since_offer: int
    default_max_in_flight: int


def sent_body(delivery: Delivery, event: Event) -> str:
    """The exact body a delivery sends: its event's, in the delivery's payload format."""
    if delivery.payload_format == CHATWOOT_FORMAT and event.chatwoot_body is not None:
        return event.chatwoot_body
    return event.body


def webhook_json(webhook: Webhook, inbox: Inbox | None, standing: Standing) -> JSON:
    asymmetric = signing_of(webhook.secret) == ASYMMETRIC
    return {
        "id": webhook.id,
        "name": webhook.name,
        "url": webhook.url,
        "account_id": webhook.account_id,
        "subscriptions": webhook.subscriptions,
        "inbox": inbox_json(inbox) if inbox else None,
        # What a receiver verifies with: the shared secret, or the public key alone (the
        # whsk_ secret key is never shown).
        "secret": None if asymmetric else webhook.secret,
        "public_key": public_key(webhook.secret) if asymmetric else None,
        "enabled": webhook.enabled,
        "disabled_reason": webhook.disabled_reason,
        "payload_format": webhook.payload_format,
        "signing": webhook.signing,
        "disabled_at": iso_offset_or_none(webhook.disabled_at),
        "created_at": iso_offset(webhook.created_at),
        "updated_at": iso_offset(webhook.updated_at),
        "auto_recover": webhook.auto_recover,
        "max_in_flight": webhook.max_in_flight or standing.default_max_in_flight,
        "backlog": backlog_json(standing.backlog, webhook.enabled),
        "recovery_offer": recovery_offer_json(webhook, standing.failed_since_offer),
    }


def backlog_json(backlog: Backlog, enabled: bool) -> JSON:
    drain = backlog.drain_seconds if enabled else None
    return {
        "pending": backlog.pending,
        "oldest_pending_at": iso_offset_or_none(backlog.oldest_pending_at),
        "delivered_per_minute": round(backlog.per_minute, 1),
        "drain_estimate_seconds": None if drain is None else round(drain),
    }


def recovery_offer_json(webhook: Webhook, failed: int) -> JSON | None:
    """The offer made when the endpoint came back from a failure streak, while something that
    failed since then is left to recover: a streak whose deliveries all got through on a retry
    offers nothing."""
    since, came_back = webhook.recovery_offer_since, webhook.recovery_offer_at
    if since is None or came_back is None or failed == 0:
        return None
    return {"since": iso_offset(since), "came_back_at": iso_offset(came_back), "failed": failed}


def delivery_json(delivery: Delivery, event: Event) -> JSON:
    return {
        "id": delivery.id,
        "webhook_id": delivery.webhook_id,
        "event": event.name,
        "event_id": event.id,
        "message_id": delivery.message_id,
        "status": delivery.status,
        "attempt_count": delivery.attempts,
        "next_attempt_at": iso(delivery.next_attempt_at) if delivery.status == PENDING else None,
        "created_at": iso(delivery.created_at),
        "updated_at": iso(delivery.updated_at),
    }


def attempt_json(attempt: DeliveryAttempt) -> JSON:
    return {
        "id": attempt.id,
        "started_at": iso(attempt.started_at),
        "duration_ms": attempt.duration_ms,
        "response_status": attempt.response_status,
        "response_headers": attempt.response_headers,
        "response_body": attempt.response_body,
        "error_class": attempt.error_class,
        "error_message": attempt.error_message,
    }
