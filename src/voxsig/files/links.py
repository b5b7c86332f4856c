"""Signed, expiring, unguessable links to an attachment's bytes (`data_url`) and thumbnail
(`thumb_url`).

The path's shape:

    /files/{attachment_id}/{variant}/{expires}.{signature}/{display name}

- `variant` is `data` or `thumb`;
- `expires` is the link's last valid moment, whole unix seconds, in decimal;
- `signature` is HMAC-SHA256, keyed with the server's secret key, over
  `voxsig.files.link\\n{attachment_id}\\n{variant}\\n{expires}` (the first line keeps these
  signatures apart from any other use of the key), base64url without padding (43 characters);
- the display name is the file's name for people and browsers only: it is neither signed nor
  read back (the route serves by id; its `Content-Disposition` takes the stored name), and it is
  made path-safe here (no `/`, `\\`, control characters or leading dots; percent-encoded).

The token is `{expires}.{signature}`, one path segment. `verify` answers False, and never
raises, for any token a stranger could send: malformed, tampered, for another id or variant, or
expired. Re-signing on every API read is the caller's business (a new `expires` each time)."""

from __future__ import annotations

import base64
import hmac
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal, get_args
from urllib.parse import quote

from voxsig.kit.signatures import hmac_digest

Variant = Literal["data", "thumb"]
VARIANTS: tuple[str, ...] = get_args(Variant)
PURPOSE = "voxsig.files.link"
MAX_EXPIRES = 10**11  # year 5138: bounds the digits a stranger can make us parse
MAX_NAME = 120
_TOKEN = re.compile(r"([0-9]{1,11})\.([A-Za-z0-9_-]{43})")


def _signature(attachment_id: int, variant: str, expires: int, secret: str) -> str:
    digest = hmac_digest(secret, f"{PURPOSE}\n{attachment_id}\n{variant}\n{expires}")
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _check(attachment_id: int, variant: str, expires_at: int) -> None:
    if type(attachment_id) is not int or attachment_id < 1:
        raise ValueError("attachment_id must be a positive int")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}")
    if type(expires_at) is not int or not 0 <= expires_at < MAX_EXPIRES:
        raise ValueError("expires_at must be whole unix seconds")


def sign(attachment_id: int, variant: Variant, expires_at: int, secret: str) -> str:
    """The token `{expires_at}.{signature}`; a ValueError for arguments no link can carry."""
    _check(attachment_id, variant, expires_at)
    if not secret:
        raise ValueError("no secret to sign with")
    return f"{expires_at}.{_signature(attachment_id, variant, expires_at, secret)}"


def expires_of(token: str) -> int | None:
    """The expiry a well-formed token carries (unverified), or None."""
    match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
    return int(match.group(1)) if match else None


def verify(token: str, attachment_id: int, variant: str, now: float, secret: str) -> bool:
    """True only for a token that `sign` made for this id and variant with this secret, and
    whose expiry is not yet past (`now` in unix seconds). Never raises."""
    if not isinstance(token, str) or not secret:
        return False
    match = _TOKEN.fullmatch(token)
    if match is None:
        return False
    try:
        _check(attachment_id, variant, int(match.group(1)))
    except ValueError:
        return False
    expires = int(match.group(1))
    if match.group(1) != str(expires):  # one spelling per expiry: no leading zeros
        return False
    expected = _signature(attachment_id, variant, expires, secret)
    # Both ASCII by construction (the regex), compared as bytes in constant time.
    if not hmac.compare_digest(expected.encode(), match.group(2).encode()):
        return False
    return now <= expires


def safe_name(display_name: str) -> str:
    """A display name as one harmless path segment (percent-encoded UTF-8)."""
    text = unicodedata.normalize("NFC", display_name if isinstance(display_name, str) else "")
    cleaned = "".join(
        "_" if ch in "/\\" else ch
        for ch in text
        if unicodedata.category(ch)[0] != "C"  # control, format, surrogate, private, unassigned
    )
    cleaned = cleaned.strip().lstrip(".").strip()[:MAX_NAME] or "file"
    return quote(cleaned, safe="")


def path(attachment_id: int, variant: Variant, token: str, display_name: str = "file") -> str:
    """`/files/{attachment_id}/{variant}/{token}/{display name}` (see the module's docstring)."""
    if expires_of(token) is None:
        raise ValueError("not a link token")
    _check(attachment_id, variant, 0)
    return f"/files/{attachment_id}/{variant}/{token}/{safe_name(display_name)}"


# Links are signed to the end of an hour: every read within the hour gives the same URL, so a
# browser's cache of an image (and a receiver's) stays good.
ROUND_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class LinkSigner:
    """Absolute, signed links of one server: `origin` (its public URL), the key, and how long
    a link works."""

    origin: str
    secret: str
    seconds: float

    def url(self, attachment_id: int, variant: Variant, display_name: str, now: float) -> str:
        expires = math.ceil((now + self.seconds) / ROUND_SECONDS) * ROUND_SECONDS
        token = sign(attachment_id, variant, min(expires, MAX_EXPIRES - 1), self.secret)
        return self.origin + path(attachment_id, variant, token, display_name)
