"""The JSON of an account's webhook endpoint (Chatwoot's shape, plus secret, health and the
comeback recovery offer), of one delivery to it, and of one attempt of a delivery."""

from __future__ import annotations

from voxsig.kit.clock import iso, iso_offset, iso_offset_or_none
from voxsig.models import Delivery, DeliveryAttempt, Event, Inbox, Webhook
from voxsig.models.webhook import PENDING
from voxsig.views.payloads import JSON, inbox_json


def webhook_json(webhook: Webhook, inbox: Inbox | None, *, failed_since_offer: int) -> JSON:
    """`failed_since_offer`: how many of its deliveries failed since its comeback offer's start
    (webhooks.deliveries.failed_since_offers)."""
    return {
        "id": webhook.id,
        "name": webhook.name,
        "url": webhook.url,
        "account_id": webhook.account_id,
        "subscriptions": webhook.subscriptions,
        "inbox": inbox_json(inbox) if inbox else None,
        "secret": webhook.secret,
        "enabled": webhook.enabled,
        "disabled_reason": webhook.disabled_reason,
        "disabled_at": iso_offset_or_none(webhook.disabled_at),
        "created_at": iso_offset(webhook.created_at),
        "updated_at": iso_offset(webhook.updated_at),
        "auto_recover": webhook.auto_recover,
        "recovery_offer": recovery_offer_json(webhook, failed_since_offer),
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
