"""Standard Webhooks: the message id, the secrets, and the three signed headers
(webhook-id, webhook-timestamp, webhook-signature)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from datetime import datetime
from secrets import token_bytes

from standardwebhooks.webhooks import Webhook as Signer

from voxsig.kit.clock import unix, utcnow

SECRET_BYTES = 32


def new_secret() -> str:
    return "whsec_" + base64.b64encode(token_bytes(SECRET_BYTES)).decode()


def new_message_id() -> str:
    """Unique, opaque, stable across the retries of a delivery (its `webhook-id`)."""
    return "msg_" + uuid.uuid4().hex


def signature_header(secrets: Sequence[str], message_id: str, moment: datetime, body: str) -> str:
    """One `v1,<base64>` per valid secret, space-separated (several during a rotation)."""
    return " ".join(Signer(secret).sign(message_id, moment, body) for secret in secrets)


def signed_headers(secrets: Sequence[str], message_id: str, body: str) -> dict[str, str]:
    """The headers of one attempt, signed now."""
    now = utcnow()
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(unix(now)),
        "webhook-signature": signature_header(secrets, message_id, now, body),
    }
