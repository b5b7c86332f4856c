"""Random tokens and their one-way digests."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid


def new_token(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)


def digest(token: str) -> str:
    """Tokens are high-entropy, so a plain SHA-256 is the right one-way function for lookups."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_uuid() -> str:
    return str(uuid.uuid4())


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    """A Standard Webhooks message id: unique, opaque, stable across retries of a delivery."""
    return "msg_" + uuid.uuid4().hex
