"""The default store: a directory on local disk (`data_dir/files/`).

Each `save` streams into a temporary file under `root/.incoming/` (the same file system as the
final place), fsyncs it, then `os.replace`s it onto the key's path: a crash leaves the whole file
or none, never half of one. On any exception while the chunks arrive (TooLarge, a cancelled
task, a client cut off mid-upload, a full disk) the temporary file is removed and the exception
propagates. Blocking file calls run in a thread (`asyncio.to_thread`), one per chunk.

Keys are Voxsig's own, yet checked all the same: only `[A-Za-z0-9/_.-]`, no empty, `.` or `..`
part, no leading `/`; anything else is a ValueError and never a path outside the root."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from voxsig.files.storage import FileMissing, TooLarge

READ_CHUNK = 64 * 1024
INCOMING = ".incoming"
STALE_SECONDS = 86400.0  # an upload still in progress after a day is no upload
_KEY = re.compile(r"[A-Za-z0-9/_.-]{1,1024}")


def check_key(key: str) -> str:
    """The key itself, or a ValueError if it could name anything but a file under the root."""
    if not isinstance(key, str) or not _KEY.fullmatch(key) or key.startswith("/"):
        raise ValueError("invalid storage key")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts) or parts[0] == INCOMING:
        raise ValueError("invalid storage key")
    return key


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_of(self, key: str) -> Path:
        """Where the object of `key` is (or would be) on disk; ValueError for a bad key."""
        return self.root.joinpath(*check_key(key).split("/"))

    async def save(
        self, key: str, chunks: AsyncIterator[bytes], content_type: str, max_bytes: int
    ) -> int:
        final = self.path_of(key)
        incoming = self.root / INCOMING
        temp = incoming / f"{uuid.uuid4().hex}.part"

        def open_temp() -> BinaryIO:
            incoming.mkdir(parents=True, exist_ok=True)
            return open(temp, "xb")  # closed in finish() or discard()

        def finish(handle: BinaryIO) -> None:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, final)
            _fsync_dir(final.parent)

        def discard(handle: BinaryIO) -> None:
            with contextlib.suppress(OSError):
                handle.close()
            with contextlib.suppress(OSError):
                temp.unlink()

        handle = await asyncio.to_thread(open_temp)
        try:
            size = 0
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(max_bytes)
                if chunk:
                    await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(finish, handle)
        except BaseException:
            # Not in a thread: a cancellation must not stop the clean-up half way. Closing and
            # unlinking one file is quick.
            discard(handle)
            raise
        return size

    async def read(self, key: str) -> AsyncIterator[bytes]:
        """An async generator: a bad key (ValueError) or a missing file (FileMissing) is raised
        at the first chunk asked for."""
        path = self.path_of(key)
        try:
            handle = await asyncio.to_thread(open, path, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as error:
            raise FileMissing(key) from error
        try:
            while chunk := await asyncio.to_thread(handle.read, READ_CHUNK):
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        path = self.path_of(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    async def presigned_url(
        self, key: str, expires_in: int, file_name: str, content_type: str, inline: bool = False
    ) -> str | None:
        check_key(key)
        return None  # Voxsig serves local files itself, behind its signed links

    async def close(self) -> None:
        return None

    async def sweep_incoming(self, older_than: float = STALE_SECONDS) -> int:
        """Deletes the partial files a crashed process left in `.incoming` (any older than
        `older_than` seconds: younger ones may be another process's upload in progress)."""

        def sweep() -> int:
            cutoff = time.time() - older_than
            removed = 0
            for part in (self.root / INCOMING).glob("*.part"):
                with contextlib.suppress(OSError):
                    if part.stat().st_mtime < cutoff:
                        part.unlink()
                        removed += 1
            return removed

        return await asyncio.to_thread(sweep)


def _fsync_dir(directory: Path) -> None:
    """The rename itself made durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
