"""GET /files/{id}/{variant}/{token}/{name}: an attachment's bytes behind its signed link.

The signature is the only key (a receiver or a visitor's browser has no token): a link that
is tampered with, expired, or for another id or variant is a 404, like an id that never was.
Files come from strangers, so they are served as inert data: the stored type (taken from the
content when it arrived), `nosniff`, a CSP that runs nothing (`sandbox`, no sources), and
`attachment` for everything but images, audio and video. Local files are served here (with
ranges, for audio and video); an object store's are a redirect to a short-lived presigned URL
with the same type and disposition."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from voxsig.config import Settings
from voxsig.deps import DbSession
from voxsig.errors import NotFound
from voxsig.files import links
from voxsig.files.images import thumbnail_key_type
from voxsig.files.local import LocalStorage
from voxsig.files.storage import Storage, content_disposition
from voxsig.kit.schema import Id
from voxsig.models import Attachment

router = APIRouter(tags=["files"])
INLINE_KINDS = frozenset({"image", "audio", "video"})
# Nothing a served file holds may run or load: no script, no style, no frame, no form.
SANDBOX = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"
PRESIGNED_SECONDS = 300
PATH = "/files/{attachment_id}/{variant}/{token}/{name}"
GONE = "No such file (or the link is not valid: links expire and are signed)"


def _headers(file_name: str, inline: bool) -> dict[str, str]:
    return {
        "content-disposition": content_disposition(file_name, inline=inline),
        "x-content-type-options": "nosniff",
        "content-security-policy": SANDBOX,
        "referrer-policy": "no-referrer",
        "cache-control": "private, max-age=3600",
    }


@router.head(PATH, response_class=Response, include_in_schema=False)
@router.get(
    PATH,
    response_class=Response,
    responses={200: {"description": "The file"}, 404: {"description": GONE}},
)
async def serve_file(
    request: Request,
    session: DbSession,
    attachment_id: Id,
    variant: Annotated[str, Path(max_length=8)],
    token: Annotated[str, Path(max_length=80)],
    name: Annotated[str, Path(max_length=1024)],
) -> Response:
    """`name` is for people and browsers only: the file is found by its id."""
    settings: Settings = request.app.state.settings
    secret = settings.resolved_secret_key()
    if not links.verify(token, attachment_id, variant, time.time(), secret):
        raise NotFound(GONE)
    row = await session.get(Attachment, attachment_id)
    key = None if row is None else (row.storage_key if variant == "data" else row.thumb_key)
    if row is None or key is None:
        raise NotFound(GONE)
    await session.commit()  # nothing more to read: the connection is not held while streaming
    if variant == "data":
        content_type, inline = row.content_type, row.file_type in INLINE_KINDS
    else:
        content_type, inline = thumbnail_key_type(key), True
    storage: Storage = request.app.state.storage
    if isinstance(storage, LocalStorage):
        path = storage.path_of(key)
        if not path.is_file():
            raise NotFound(GONE)
        return FileResponse(path, media_type=content_type, headers=_headers(row.file_name, inline))
    url = await storage.presigned_url(key, PRESIGNED_SECONDS, row.file_name, content_type, inline)
    if url is None:
        raise NotFound(GONE)
    return RedirectResponse(url, status_code=302, headers={"cache-control": "no-store"})
