"""Standard Webhooks: the message id, the secrets, and the three signed headers
(webhook-id, webhook-timestamp, webhook-signature).

A secret says by its prefix how it signs: `whsec_` (symmetric: `v1`, HMAC-SHA256 with the
shared secret) or `whsk_` (asymmetric: `v1a`, ed25519 with the secret key, verified with its
`whpk_` public key). `whsk_` is the base64 of the 32-byte ed25519 seed (the private key as
RFC 8032 defines it, and as the Standard Webhooks libraries read it), `whpk_` the base64 of
the 32-byte public key."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from secrets import token_bytes

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from standardwebhooks.webhooks import Webhook as HmacSigner

from voxsig.kit.clock import unix, utcnow
from voxsig.models.webhook import ASYMMETRIC, SYMMETRIC, Signing

SECRET_BYTES = 32
SYMMETRIC_PREFIX = "whsec_"
SECRET_KEY_PREFIX = "whsk_"  # noqa: S105 (a prefix, not a secret)
PUBLIC_KEY_PREFIX = "whpk_"
SEED_BYTES = 32
# Signers built once per secret: the worker signs every delivery with the same few secrets.
SIGNERS_CACHED = 4096


def new_secret(signing: Signing = SYMMETRIC) -> str:
    """A new `whsec_` secret (symmetric) or `whsk_` secret key (asymmetric)."""
    if signing == ASYMMETRIC:
        return SECRET_KEY_PREFIX + base64.b64encode(token_bytes(SEED_BYTES)).decode()
    return SYMMETRIC_PREFIX + base64.b64encode(token_bytes(SECRET_BYTES)).decode()


def signing_of(secret: str) -> Signing:
    """How `secret` signs, by its prefix."""
    return ASYMMETRIC if secret.startswith(SECRET_KEY_PREFIX) else SYMMETRIC


def is_asymmetric(secret: str) -> bool:
    return signing_of(secret) == ASYMMETRIC


def public_key(secret: str) -> str:
    """The `whpk_` public key of a `whsk_` secret key: what a receiver verifies `v1a` with."""
    raw = _private_key(secret).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode()


def new_message_id() -> str:
    """Unique, opaque, stable across the retries of a delivery (its `webhook-id`)."""
    return "msg_" + uuid.uuid4().hex


@lru_cache(maxsize=SIGNERS_CACHED)
def _private_key(secret: str) -> Ed25519PrivateKey:
    if not secret.startswith(SECRET_KEY_PREFIX):
        raise ValueError("not a whsk_ secret key")
    seed = base64.b64decode(secret.removeprefix(SECRET_KEY_PREFIX), validate=True)
    if len(seed) != SEED_BYTES:
        raise ValueError(f"a whsk_ secret key holds a {SEED_BYTES}-byte ed25519 seed")
    return Ed25519PrivateKey.from_private_bytes(seed)


@lru_cache(maxsize=SIGNERS_CACHED)
def _hmac_signer(secret: str) -> HmacSigner:
    return HmacSigner(secret)


def sign(secret: str, message_id: str, moment: datetime, body: str) -> str:
    """One signature of `{id}.{timestamp}.{body}`: `v1,<base64>` or `v1a,<base64>`."""
    if secret.startswith(SECRET_KEY_PREFIX):
        content = f"{message_id}.{unix(moment)}.{body}".encode()
        return "v1a," + base64.b64encode(_private_key(secret).sign(content)).decode()
    signature: str = _hmac_signer(secret).sign(message_id, moment, body)
    return signature


def signature_header(secrets: Sequence[str], message_id: str, moment: datetime, body: str) -> str:
    """One signature per valid secret, each of its own kind, space-separated (several during a
    rotation, a `v1` beside a `v1a` while an endpoint switches signing)."""
    return " ".join(sign(secret, message_id, moment, body) for secret in secrets)


def signed_headers(secrets: Sequence[str], message_id: str, body: str) -> dict[str, str]:
    """The headers of one attempt, signed now."""
    now = utcnow()
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(unix(now)),
        "webhook-signature": signature_header(secrets, message_id, now, body),
    }
