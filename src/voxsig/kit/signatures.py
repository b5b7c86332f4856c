"""HMAC-SHA256 digests, compared in constant time (identity verification of contacts, the
signed links of attachments)."""

from __future__ import annotations

import hashlib
import hmac


def hmac_digest(secret: str, value: str) -> bytes:
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).digest()


def hmac_hex(secret: str, value: str) -> str:
    return hmac_digest(secret, value).hex()


def hmac_matches(secret: str, value: str, given: str) -> bool:
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, i.e. a 500).
    expected = hmac_hex(secret, value).encode()
    return hmac.compare_digest(expected, given.strip().lower().encode())
