"""Where attachment bytes live: the interface every store implements. The local directory under
the data dir is the default; an S3-compatible object store takes Voxsig to several machines.

A store never holds half a file under its key: `save` writes the whole object or, on any error
(the upload cut off, a limit reached, the disk full), nothing, so a crash leaves either a
complete file (and its row, written after it) or neither. Keys are Voxsig's own (never a
visitor's file name), so no name can reach outside the store."""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from typing import Protocol


class FileMissing(LookupError):
    """No object under this key (deleted, or never written)."""


class TooLarge(ValueError):
    """The bytes went past the limit given to `save`; nothing was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


class Storage(Protocol):
    async def save(
        self, key: str, chunks: AsyncIterator[bytes], content_type: str, max_bytes: int
    ) -> int:
        """Stores the chunks under `key` as one object of `content_type`; returns its size.
        Raises TooLarge (keeping nothing) past `max_bytes`; any other error keeps nothing too."""
        ...

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes, in chunks; FileMissing if there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Removes the object; nothing happens if there is none."""
        ...

    async def presigned_url(
        self, key: str, expires_in: int, file_name: str, content_type: str, inline: bool = False
    ) -> str | None:
        """A URL the store itself serves the object at for `expires_in` seconds, with
        `Content-Disposition` naming `file_name` (`inline` or `attachment`); None when Voxsig
        serves it (local disk)."""
        ...

    async def close(self) -> None: ...


def content_disposition(file_name: str, *, inline: bool = False) -> str:
    """`attachment` (or `inline`) with the name quoted safely: an ASCII fallback in `filename`
    (no quote, backslash or control character can end or break the header) and, when the name
    is not plain ASCII, the exact name in RFC 5987's `filename*`."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in file_name)
    fallback = fallback.strip() or "file"
    header = f'{"inline" if inline else "attachment"}; filename="{fallback}"'
    if fallback != file_name:
        header += f"; filename*=UTF-8''{urllib.parse.quote(file_name, safe='')}"
    return header
