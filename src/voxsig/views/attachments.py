"""An attachment's JSON (Chatwoot's Attachment#push_event_data) with its signed links.

The links are absolute and signed by the server the session belongs to: `Database` puts the
`LinkSigner` of its settings into every session's `info` under FILE_LINKS (`signer_of`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.config import Settings
from voxsig.files.links import LinkSigner
from voxsig.models import Attachment

JSON = dict[str, Any]
FILE_LINKS = "voxsig.file_links"


def signer_for(settings: Settings) -> LinkSigner:
    return LinkSigner(
        settings.resolved_public_url(),
        settings.resolved_secret_key(),
        settings.attachment_url_seconds,
    )


def session_info(settings: Settings) -> dict[str, Any]:
    """What every session of a server's database carries (Database(session_info=...))."""
    return {FILE_LINKS: signer_for(settings)}


def signer_of(session: AsyncSession) -> LinkSigner:
    signer = session.info.get(FILE_LINKS)
    if not isinstance(signer, LinkSigner):
        raise RuntimeError("this database's sessions sign no file links (Database(session_info))")
    return signer


def attachment_json(a: Attachment, links: LinkSigner, now: float) -> JSON:
    """The voxsig format: Chatwoot's fields, and the file's display name and content type."""
    return {
        "id": a.id,
        "message_id": a.message_id,
        "file_type": a.file_type,
        "account_id": a.account_id,
        "extension": a.extension,
        "data_url": links.url(a.id, "data", a.file_name, now),
        "thumb_url": links.url(a.id, "thumb", a.file_name, now) if a.thumb_key else "",
        "file_size": a.file_size,
        "width": a.width,
        "height": a.height,
        "file_name": a.file_name,
        "content_type": a.content_type,
    }


def chatwoot_attachment(a: JSON) -> JSON:
    """Attachment#push_event_data exactly: without the voxsig format's name and type."""
    return {k: v for k, v in a.items() if k not in ("file_name", "content_type")}
