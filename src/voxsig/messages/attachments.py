"""A message's files on their way in, whichever door they come through (the REST API, the
public client API, the widget, the dashboard's composer).

`receiving(request, session)` first ends the request's read transaction, so that no database
connection waits on the client while its files arrive (on SQLite one connection serves every
account); it then streams the `multipart/form-data` body into the store (files/uploads.py),
measures each image and stores its thumbnail, and yields the form's fields and the files as
`Attachment` rows for the message. The block writes the message; it is committed before the
block ends, and if anything fails on the way (a refused field, a database error, the client
gone) every stored file is deleted again: a message is written with all its files, or neither
is kept."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Scope

from voxsig.config import Settings
from voxsig.errors import Invalid, PayloadTooLarge, RequestTimeout
from voxsig.files import images
from voxsig.files.storage import Storage
from voxsig.files.uploads import Staged, UploadLimits, UploadRefused, read_upload
from voxsig.models import Attachment

# The slowest upload still accepted, in bytes a second: a phone on a poor line, not a client
# trickling a byte at a time (which holds no connection to the database, only a socket).
MIN_UPLOAD_RATE = 32 * 1024
THUMB_SIDE = 250  # Chatwoot's thumbnail width

log = logging.getLogger("voxsig.files")

# The doors a message with files comes through (each route's POST): the REST API, the public
# client API, the widget and the dashboard's composer.
UPLOAD_PATHS = re.compile(
    r"/api/v1/accounts/\d+/conversations/\d+/messages"
    r"|/public/api/v1/inboxes/[^/]+/contacts/[^/]+/conversations/\d+/messages"
    r"|/api/v1/widget/messages"
    r"|/app/conversations/\d+/messages"
)


def _is_multipart(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "multipart/form-data"


def is_multipart(request: Request) -> bool:
    return _is_multipart(request.headers.get("content-type", ""))


def streamed_limit(settings: Settings) -> Callable[[Scope], int | None]:
    """For the request guard: the body limit of a message with files (None for any other
    request, whose body the guard reads whole)."""
    limit = UploadLimits.from_settings(settings).max_body_bytes

    def limit_of(scope: Scope) -> int | None:
        if scope.get("method") != "POST" or not UPLOAD_PATHS.fullmatch(scope.get("path", "")):
            return None
        content_type = dict(scope["headers"]).get(b"content-type", b"")
        return limit if _is_multipart(content_type.decode("latin-1")) else None

    return limit_of


@dataclass
class Incoming:
    """The form's text fields, and its files as rows for the message (not yet in a session)."""

    fields: dict[str, str]
    attachments: list[Attachment] = field(default_factory=list)


def storage_of(request: Request) -> Storage:
    store: Storage = request.app.state.storage
    return store


def deadline(settings: Settings, limits: UploadLimits, declared: str | None) -> float:
    """Seconds the whole body may take: the JSON body's allowance plus its size (declared, or
    the most a message may carry) at MIN_UPLOAD_RATE."""
    size = int(declared) if declared and declared.isdigit() else limits.max_body_bytes
    return settings.body_timeout + min(size, limits.max_body_bytes) / MIN_UPLOAD_RATE


@contextlib.asynccontextmanager
async def receiving(
    request: Request, session: AsyncSession, account_id: int, reread: Sequence[object] = ()
) -> AsyncIterator[Incoming]:
    """`reread`: rows loaded before the upload (the conversation) that the block will change:
    read again once the files are in, since the upload may have taken minutes."""
    settings: Settings = request.app.state.settings
    storage = storage_of(request)
    limits = UploadLimits.from_settings(settings)
    await session.commit()  # the connection goes back to the pool while the body arrives
    seconds = deadline(settings, limits, request.headers.get("content-length"))
    try:
        async with asyncio.timeout(seconds):
            upload = await read_upload(
                request.headers.get("content-type", ""), request.stream(), storage, limits
            )
    except TimeoutError as error:
        raise RequestTimeout(
            f"The request body did not arrive within {seconds:.0f} seconds", field="body"
        ) from error
    except UploadRefused as refused:
        problem = PayloadTooLarge if refused.status == 413 else Invalid
        raise problem(refused.message, field=refused.field) from refused
    incoming = Incoming(upload.fields)
    try:
        for row in reread:
            await session.refresh(row)
        for staged in upload.files:
            incoming.attachments.append(await _row(storage, staged, account_id))
        yield incoming
        await session.commit()
    except BaseException:
        thumbs = [a.thumb_key for a in incoming.attachments if a.thumb_key]
        await asyncio.shield(discard(storage, [s.key for s in upload.files] + thumbs))
        raise


async def discard(storage: Storage, keys: list[str]) -> None:
    for key in keys:
        try:
            await storage.delete(key)
        except Exception:  # a store that fails now: the file is an orphan, said in the log
            log.warning("could not delete the stored file %s of a message not written", key)


async def _row(storage: Storage, staged: Staged, account_id: int) -> Attachment:
    row = Attachment(
        account_id=account_id,
        file_type=staged.kind.file_type,
        content_type=staged.kind.content_type,
        extension=staged.kind.extension,
        file_name=staged.file_name,
        file_size=staged.size,
        storage_key=staged.key,
    )
    if staged.kind.file_type == "image":
        await _measure(storage, row)
    return row


async def _measure(storage: Storage, row: Attachment) -> None:
    """The image's size and thumbnail; an image Pillow cannot read stays a file without them."""
    data = b"".join([chunk async for chunk in storage.read(row.storage_key)])
    try:
        size = await asyncio.to_thread(images.inspect, data)
        thumb = await asyncio.to_thread(images.thumbnail, data, THUMB_SIDE)
    except images.ImageTooLarge as error:
        if error.size is not None:
            row.width, row.height = error.size
        return
    except images.ImageRefused:
        return
    if size is not None:
        row.width, row.height = size
    content_type = images.thumbnail_type(thumb)
    thumb_key = row.storage_key + images.THUMB_SUFFIXES[content_type]
    await storage.save(thumb_key, _once(thumb), content_type, len(thumb))
    row.thumb_key = thumb_key


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
