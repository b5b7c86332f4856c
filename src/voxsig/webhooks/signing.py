"""Standard Webhooks signatures (webhook-id, webhook-timestamp, webhook-signature)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook as Signer


def signature_header(secrets: Sequence[str], message_id: str, moment: datetime, body: str) -> str:
    """One `v1,<base64>` per valid secret, space-separated (several during a rotation)."""
    return " ".join(Signer(secret).sign(message_id, moment, body) for secret in secrets)
