"""Random tokens and their one-way digests."""

from __future__ import annotations

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
