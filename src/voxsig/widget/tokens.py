"""Visitor tokens: what the widget keeps (in the host page's localStorage) to be the same
visitor on the next page. Signed with the server's secret key, so nothing is stored for them and
a visitor cannot forge another's; they name the inbox, so one inbox's token is useless in
another, and the contact_inbox's random source_id, so a token outlives no deleted visitor (row
ids can be reused on SQLite)."""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "voxsig.widget.visitor"


@dataclass(frozen=True)
class VisitorClaim:
    inbox_id: int
    contact_inbox_id: int
    source_id: str


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=SALT)


def sign(secret_key: str, claim: VisitorClaim) -> str:
    return str(
        _serializer(secret_key).dumps([claim.inbox_id, claim.contact_inbox_id, claim.source_id])
    )


def read(secret_key: str, token: str) -> VisitorClaim | None:
    """The claim of a token this server signed, else None."""
    try:
        data = _serializer(secret_key).loads(token)
    except BadSignature:
        return None
    match data:
        case [int(inbox_id), int(contact_inbox_id), str(source_id)]:
            return VisitorClaim(inbox_id, contact_inbox_id, source_id)
    return None
