"""What a file is, from its content and never its name.

`sniff(head, declared_name)` looks at the first bytes of a file (pass `HEAD_BYTES` of them, or
the whole file when it is smaller): binary formats by their magic numbers (the `filetype`
library), Office Open XML documents by the names of their zip entries, and text (valid UTF-8
without NUL) as plain text, CSV or JSON. The declared name only chooses between kinds the
content already allows: CSV or JSON rather than plain text, and an Office document rather than
a plain zip when the zip's first entries do not tell. It never makes bytes a kind they are not.

Markup is never text: a text file that starts with `<`, or that holds `<svg`, `<script` or
`<html` anywhere in its head, is SVG, HTML or XML, kinds the default list refuses (they can run
script in a browser).

`Kind.file_type` is Chatwoot's `Attachment#file_type` as its FileTypeHelper derives it from the
content type: "image" for JPEG, PNG, GIF, BMP and WebP; "video" for Ogg, MP4, WebM and
QuickTime video; "audio" for any `audio/*`; "file" for everything else."""

from __future__ import annotations

import codecs
import json
import re
import struct
from dataclasses import dataclass
from typing import Literal

import filetype

HEAD_BYTES = 8192  # what filetype reads, and enough for an OOXML zip's first entries
FileType = Literal["image", "audio", "video", "file"]


@dataclass(frozen=True, slots=True)
class Kind:
    content_type: str
    extension: str
    file_type: FileType


CHATWOOT_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/bmp", "image/webp"})
CHATWOOT_VIDEOS = frozenset({"video/ogg", "video/mp4", "video/webm", "video/quicktime"})


def chatwoot_file_type(content_type: str) -> FileType:
    if content_type in CHATWOOT_IMAGES:
        return "image"
    if content_type in CHATWOOT_VIDEOS:
        return "video"
    if "audio/" in content_type:
        return "audio"
    return "file"


def kind_of(content_type: str, extension: str) -> Kind:
    return Kind(content_type, extension, chatwoot_file_type(content_type))


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"
ZIP = "application/zip"

OFFICE = frozenset(
    {
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        DOCX,
        XLSX,
        PPTX,
        ODT,
        ODS,
        ODP,
    }
)

DEFAULT_ALLOWED: frozenset[str] = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "audio/mpeg",
        "audio/ogg",
        "audio/wav",
        "audio/webm",
        "audio/mp4",
        "video/mp4",
        "video/webm",
        "video/quicktime",
        "application/pdf",
        *OFFICE,
        "text/plain",
        "text/csv",
        "application/json",
        ZIP,
        "application/gzip",
        "application/x-7z-compressed",
    }
)
"""The content types accepted by default. Not SVG, HTML or XML: they can run script."""


def allowed(kind: Kind | None, types: frozenset[str] = DEFAULT_ALLOWED) -> bool:
    return kind is not None and kind.content_type in types


# filetype's names where the web's usual ones differ.
_RENAMED = {
    "audio/x-wav": ("audio/wav", "wav"),
    "image/apng": ("image/png", "png"),  # an animated PNG is a PNG to every browser
}
# A zip whose first entries do not say which document it is: the declared extension may.
_ZIPPED_BY_EXTENSION = {
    "docx": DOCX,
    "xlsx": XLSX,
    "pptx": PPTX,
    "odt": ODT,
    "ods": ODS,
    "odp": ODP,
}
_OOXML_FOLDERS = ((b"word/", DOCX, "docx"), (b"xl/", XLSX, "xlsx"), (b"ppt/", PPTX, "pptx"))
_ZIP_ENTRY = b"PK\x03\x04"
_MAX_ENTRIES = 64

SVG = kind_of("image/svg+xml", "svg")
HTML = kind_of("text/html", "html")
XML = kind_of("application/xml", "xml")
TEXT = kind_of("text/plain", "txt")
CSV = kind_of("text/csv", "csv")
JSON = kind_of("application/json", "json")

_EXTENSION = re.compile(r"[a-z0-9]{1,10}")
_SCRIPTABLE = (b"<svg", b"<script", b"<html", b"<!doctype html", b"<iframe", b"<body")


def declared_extension(name: str) -> str:
    """The name's extension, lower case, if it is a plain short one; else ""."""
    if not isinstance(name, str):
        return ""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if "." not in base:
        return ""
    extension = base.rsplit(".", 1)[1].strip().lower()
    return extension if _EXTENSION.fullmatch(extension) else ""


def sniff(head: bytes, declared_name: str = "") -> Kind | None:
    """The kind of a file whose first bytes are `head`, or None when none is recognised (an
    empty file included). Never raises for any bytes."""
    if not isinstance(head, bytes | bytearray | memoryview):
        return None
    head = bytes(head[:HEAD_BYTES])
    if not head:
        return None
    extension = declared_extension(declared_name)
    try:
        found = filetype.guess(head)
    except Exception:  # a library's parsing of hostile bytes: treated as unrecognised
        found = None
    if found is not None:
        return _binary(head, str(found.mime), str(found.extension), extension)
    return _text(head, extension)


def _binary(head: bytes, mime: str, found_extension: str, declared: str) -> Kind:
    mime, found_extension = _RENAMED.get(mime, (mime, found_extension))
    if mime == ZIP:
        return _zipped(head, declared)
    if mime == "video/webm" and declared == "weba":
        return kind_of("audio/webm", "weba")  # the same container; the bytes cannot tell cheaply
    return kind_of(mime, found_extension)


def _zipped(head: bytes, declared: str) -> Kind:
    for name in _zip_entry_names(head):
        for folder, content_type, extension in _OOXML_FOLDERS:
            if name.startswith(folder):
                return kind_of(content_type, extension)
    if declared in _ZIPPED_BY_EXTENSION:
        return kind_of(_ZIPPED_BY_EXTENSION[declared], declared)
    return kind_of(ZIP, "zip")


def _zip_entry_names(head: bytes) -> list[bytes]:
    """The names of the local file headers found in the head (a bounded scan)."""
    names: list[bytes] = []
    at = head.find(_ZIP_ENTRY)
    while at != -1 and len(names) < _MAX_ENTRIES and at + 30 <= len(head):
        (name_length,) = struct.unpack_from("<H", head, at + 26)
        names.append(head[at + 30 : at + 30 + name_length])
        at = head.find(_ZIP_ENTRY, at + 4)
    return names


def _text(head: bytes, declared: str) -> Kind | None:
    if b"\x00" in head:
        return None
    try:
        # Incremental: a multi-byte character cut off at the head's end is not an error.
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    markup = _markup(text)
    if markup is not None:
        return markup
    if declared == "csv":
        return CSV
    if text.lstrip()[:1] in ("{", "[") and (declared == "json" or len(head) < HEAD_BYTES):
        if len(head) >= HEAD_BYTES:
            return JSON  # only a head: it cannot parse on its own, and the name says JSON
        try:
            json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's
            return TEXT
        return JSON
    return TEXT


def _markup(text: str) -> Kind | None:
    lowered = text.lower()
    start = lowered.lstrip()
    scriptable = [tag for tag in _SCRIPTABLE if tag.decode() in lowered]
    if not start.startswith("<") and not scriptable:
        return None
    if b"<svg" in scriptable:
        return SVG
    if scriptable or "xhtml" in lowered:
        return HTML
    return XML
