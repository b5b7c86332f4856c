"""A `multipart/form-data` message body read as it arrives, its files stored on the way.

`read_upload(content_type, body, storage, limits)` takes the request's `content-type` header
and an async iterator of body chunks (Starlette's `request.stream()`), parses them with
python-multipart's streaming `MultipartParser` and returns an `Upload`: the text fields (name ->
str) and the files of `attachments[]` (or `attachments`) as `Staged` objects, already stored.
The body is never held whole: a text field is buffered up to `limits.max_field_bytes`, a file
only up to its first `kinds.HEAD_BYTES`.

How the loop stays free: the parser's callbacks are sync and only append events (a part began,
its headers, a slice of its data, it ended) to a queue. Each file's bytes go to `storage.save`
as an async generator that itself pulls the next body chunk, feeds the parser at most
`FEED_BYTES` at a time and yields the file's data events until its part ends; so the file
streams into the store while the body is still arriving, with no task and no unbounded
buffer between them.

Each file is sniffed from its first `HEAD_BYTES` (`kinds.sniff`: the content decides, never
the declared name or the part's content type) and refused before anything is stored if the
kind is unknown or not in `limits.allowed_types`. Its key is Voxsig's own,
`attachments/YYYY/MM/<uuid4 hex>`; its file name is for display only, cleaned (`clean_name`).
Its `max_bytes` is the per-file limit or what is left of the per-message budget, the lower.

Choices: a text field's name given twice is refused (422), so no value silently wins; a part
of the attachments field without a file name, or a file under any other name, is refused
(422); a browser's empty file input (`filename=""` and no bytes) is skipped; an empty named
file is refused like any unrecognised one (422).

Every failure is an `UploadRefused(field, message, status)`: 413 for a file, the message's
files or a text field too large, 422 for the rest (too many files or fields, a disallowed
type, malformed multipart, no boundary). On ANY failure (a refusal, a malformed body, the
iterator raising because the client went away, cancellation) every file this call stored is
deleted before the exception propagates, so nothing is left behind; the caller owns the
returned files from then on (their `delete` is its job if the message is not written)."""

from __future__ import annotations

import asyncio
import logging
import unicodedata
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from voxsig.config import Settings
from voxsig.files import kinds
from voxsig.files.kinds import HEAD_BYTES, Kind
from voxsig.files.storage import Storage, TooLarge

FEED_BYTES = 64 * 1024  # the most the parser is given at once: one write stays short
MAX_NAME = 255
ATTACHMENT_FIELDS = frozenset({"attachments[]", "attachments"})
DEFAULT_FIELD_BYTES = 160 * 1024  # a message's content is at most 150,000 characters
DEFAULT_MAX_FIELDS = 32
_OVERHEAD_BYTES = 1024 * 1024  # boundaries and part headers, on top of the limits' bytes

log = logging.getLogger("voxsig.files")


class UploadRefused(ValueError):
    """The body is refused; `field` names the part (`attachments[1]`, `content`, or `body`),
    `status` is the HTTP status to answer with (413 or 422)."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status
        # The text fields read before the refusal (read_upload fills them in): a form shown
        # again keeps what was typed, and its CSRF token can still be checked.
        self.fields: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class UploadLimits:
    max_file_bytes: int
    max_message_bytes: int
    max_files: int
    max_field_bytes: int = DEFAULT_FIELD_BYTES
    max_fields: int = DEFAULT_MAX_FIELDS
    allowed_types: frozenset[str] = kinds.DEFAULT_ALLOWED

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        listed = frozenset(
            t.strip().lower() for t in settings.attachment_allowed_types.split(",") if t.strip()
        )
        return cls(
            max_file_bytes=settings.attachment_max_bytes,
            max_message_bytes=settings.attachment_max_message_bytes,
            max_files=settings.attachment_max_files,
            allowed_types=listed or kinds.DEFAULT_ALLOWED,
        )

    @property
    def max_body_bytes(self) -> int:
        """No body is read past this, whatever it holds (an endless preamble or headers)."""
        return self.max_message_bytes + self.max_fields * self.max_field_bytes + _OVERHEAD_BYTES


@dataclass(frozen=True, slots=True)
class Staged:
    """A file stored under `key`; `file_name` is for display only."""

    key: str
    file_name: str
    kind: Kind
    size: int


@dataclass(slots=True)
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[Staged] = field(default_factory=list)


def clean_name(declared: str) -> str:
    """A visitor's file name made harmless for display: its last path segment, NFC, without
    control or format characters (bidi overrides included), trimmed, at most MAX_NAME
    characters; "file" when nothing is left."""
    text = unicodedata.normalize("NFC", declared.replace("\\", "/").rsplit("/", 1)[-1])
    kept = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    kept = kept.strip().lstrip(".").strip()
    return kept[:MAX_NAME] or "file"


def new_key(prefix: str = "attachments", now: datetime | None = None) -> str:
    moment = now or datetime.now(UTC)
    return f"{prefix}/{moment:%Y}/{moment:%m}/{uuid.uuid4().hex}"


async def read_upload(
    content_type: str,
    body: AsyncIterator[bytes],
    storage: Storage,
    limits: UploadLimits,
    prefix: str = "attachments",
) -> Upload:
    """The body's fields and stored files; UploadRefused (or the iterator's own exception)
    with nothing stored on any failure."""
    reader = _Reader(_boundary(content_type), body, storage, limits, prefix)
    try:
        await reader.run()
    except BaseException as error:
        if isinstance(error, UploadRefused):
            error.fields = dict(reader.upload.fields)
        await _delete_all(storage, reader.stored_keys)
        raise
    return reader.upload


def _boundary(content_type: str) -> bytes:
    ctype, options = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data":
        raise UploadRefused("body", "the body is not multipart/form-data")
    boundary = options.get(b"boundary", b"")
    if not boundary:
        raise UploadRefused("body", "the multipart body has no boundary")
    return boundary


async def _delete_all(storage: Storage, keys: list[str]) -> None:
    """Shielded: a second cancellation does not stop the clean-up, which goes on in its task."""

    async def delete() -> None:
        for key in keys:
            try:
                await storage.delete(key)
            except Exception:  # one failed delete must not keep the others from running
                log.warning("could not delete the staged file %s", key, exc_info=True)

    if keys:
        await asyncio.shield(asyncio.ensure_future(delete()))


class _Begin:
    pass


class _End:
    pass


class _Done:
    pass


@dataclass(slots=True)
class _Headers:
    lines: list[tuple[bytes, bytes]]


@dataclass(slots=True)
class _Data:
    data: bytes


_Event = _Begin | _Headers | _Data | _End | _Done
_BEGIN, _END, _DONE = _Begin(), _End(), _Done()


class _Reader:
    def __init__(
        self,
        boundary: bytes,
        body: AsyncIterator[bytes],
        storage: Storage,
        limits: UploadLimits,
        prefix: str,
    ) -> None:
        self.body = body
        self.storage = storage
        self.limits = limits
        self.prefix = prefix
        self.upload = Upload()
        self.stored_keys: list[str] = []
        self.events: deque[_Event] = deque()
        self.pending = memoryview(b"")
        self.fed = 0
        self.body_over = False
        self.parts = 0
        self.file_bytes = 0
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._header_lines: list[tuple[bytes, bytes]] = []
        try:
            self.parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": self._on_part_begin,
                    "on_header_field": self._on_header_field,
                    "on_header_value": self._on_header_value,
                    "on_header_end": self._on_header_end,
                    "on_headers_finished": self._on_headers_finished,
                    "on_part_data": self._on_part_data,
                    "on_part_end": self._on_part_end,
                    "on_end": self._on_end,
                },
            )
        except (FormParserError, ValueError) as error:
            raise UploadRefused("body", "the multipart boundary is invalid") from error

    # The parser's callbacks: sync, they only record what was found.

    def _on_part_begin(self) -> None:
        self._header_lines = []
        self.events.append(_BEGIN)

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._header_lines.append((bytes(self._header_field), bytes(self._header_value)))
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        self.events.append(_Headers(self._header_lines))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if end > start:
            self.events.append(_Data(bytes(data[start:end])))

    def _on_part_end(self) -> None:
        self.events.append(_END)

    def _on_end(self) -> None:
        self.events.append(_DONE)

    # The awaits, outside the callbacks.

    async def _next(self) -> _Event:
        while not self.events:
            if not self.pending:
                if self.body_over:
                    raise UploadRefused("body", "the multipart body ends before its last boundary")
                try:
                    chunk = await anext(self.body)
                except StopAsyncIteration:
                    self.body_over = True
                    self.parser.finalize()
                    continue
                self.fed += len(chunk)
                if self.fed > self.limits.max_body_bytes:
                    raise UploadRefused(
                        "body", f"the body is larger than {self.limits.max_body_bytes} bytes", 413
                    )
                self.pending = memoryview(chunk)
            piece, self.pending = self.pending[:FEED_BYTES], self.pending[FEED_BYTES:]
            try:
                self.parser.write(bytes(piece))
            except FormParserError as error:
                raise UploadRefused("body", "the multipart body is malformed") from error
        return self.events.popleft()

    async def run(self) -> None:
        while True:
            event = await self._next()
            if isinstance(event, _Done):
                return
            if isinstance(event, _Begin):
                self.parts += 1
                if self.parts > self.limits.max_fields + self.limits.max_files:
                    raise UploadRefused("body", "the body has too many parts")
                continue
            if not isinstance(event, _Headers):
                raise UploadRefused("body", "the multipart body is malformed")
            name, file_name = _disposition(event.lines)
            if file_name is not None:
                await self._file(name, file_name)
            else:
                await self._text(name)

    async def _text(self, name: str) -> None:
        if name in ATTACHMENT_FIELDS:
            raise UploadRefused(name, f"{name} must be a file")
        if name in self.upload.fields:
            raise UploadRefused(name, f"the field {name} is given more than once")
        if len(self.upload.fields) >= self.limits.max_fields:
            raise UploadRefused(name, f"more than {self.limits.max_fields} fields")
        value = bytearray()
        while not isinstance(event := await self._next(), _End):
            if not isinstance(event, _Data):
                raise UploadRefused("body", "the multipart body is malformed")
            value += event.data
            if len(value) > self.limits.max_field_bytes:
                raise UploadRefused(
                    name,
                    f"the field {name} is larger than {self.limits.max_field_bytes} bytes",
                    413,
                )
        try:
            self.upload.fields[name] = value.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UploadRefused(name, f"the field {name} is not UTF-8 text") from error

    async def _file(self, name: str, declared: str) -> None:
        index = len(self.upload.files)
        where = f"attachments[{index}]"
        if name not in ATTACHMENT_FIELDS:
            raise UploadRefused(name, f"a file is only accepted as attachments[], not {name}")
        display = clean_name(declared)
        head = bytearray()
        ended = False
        while len(head) < HEAD_BYTES:
            event = await self._next()
            if isinstance(event, _End):
                ended = True
                break
            if not isinstance(event, _Data):
                raise UploadRefused("body", "the multipart body is malformed")
            head += event.data
        if ended and not head and declared == "":
            return  # a browser's file input left empty
        if index >= self.limits.max_files:
            raise UploadRefused(where, f"more than {self.limits.max_files} files")
        kind = kinds.sniff(bytes(head[:HEAD_BYTES]), declared)
        if kind is None:
            raise UploadRefused(where, f'the file "{display}" is of no known type')
        if not kinds.allowed(kind, self.limits.allowed_types):
            raise UploadRefused(
                where, f'the file "{display}" is {kind.content_type}, which is not accepted'
            )
        remaining = self.limits.max_message_bytes - self.file_bytes
        max_bytes = min(self.limits.max_file_bytes, remaining)
        key = new_key(self.prefix)
        self.stored_keys.append(key)  # before save: a delete of a key never written is a no-op
        chunks = self._file_chunks(bytes(head), ended)
        try:
            size = await self.storage.save(key, chunks, kind.content_type, max_bytes)
        except TooLarge as error:
            if max_bytes == self.limits.max_file_bytes:
                message = f'the file "{display}" is larger than {max_bytes} bytes'
            else:
                message = (
                    f'the file "{display}" takes the message\'s files past '
                    f"{self.limits.max_message_bytes} bytes"
                )
            raise UploadRefused(where, message, 413) from error
        finally:
            await chunks.aclose()
        self.file_bytes += size
        self.upload.files.append(Staged(key, display, kind, size))

    async def _file_chunks(self, head: bytes, ended: bool) -> AsyncGenerator[bytes, None]:
        if head:
            yield head
        if ended:
            return
        while not isinstance(event := await self._next(), _End):
            if not isinstance(event, _Data):
                raise UploadRefused("body", "the multipart body is malformed")
            yield event.data


def _disposition(lines: list[tuple[bytes, bytes]]) -> tuple[str, str | None]:
    """The part's field name and declared file name (None for a text field)."""
    for header, value in lines:
        if header.strip().lower() != b"content-disposition":
            continue
        kind, options = parse_options_header(value.decode("latin-1"))
        raw_name = options.get(b"name")
        if kind != b"form-data" or not raw_name:
            break
        try:
            name = raw_name.decode("utf-8")
        except UnicodeDecodeError:
            break
        raw_file = options.get(b"filename")
        if raw_file is None:
            return name, None
        return name, raw_file.decode("utf-8", errors="replace")
    raise UploadRefused("body", "a part has no form-data Content-Disposition with a name")
