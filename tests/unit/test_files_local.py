"""The local store: whole file or none, keys that cannot leave the root, streamed reads."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from voxsig.config import Settings
from voxsig.files import local
from voxsig.files.local import LocalStorage, check_key
from voxsig.files.storage import FileMissing, Storage, TooLarge
from voxsig.files.stores import StorageUnavailable, open_storage

pytestmark = pytest.mark.anyio


async def chunks_of(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def read_all(store: LocalStorage, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(key)])


def everything_under(path: Path) -> list[Path]:
    return list(path.rglob("*"))


def leftovers(root: Path) -> list[Path]:
    incoming = root / local.INCOMING
    return list(incoming.iterdir()) if incoming.exists() else []


async def test_save_then_read_back_in_chunks(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    body = os.urandom(local.READ_CHUNK * 2 + 17)
    parts = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    size = await store.save("1/2/abc.bin", chunks_of(parts), "application/octet-stream", 10**6)
    assert size == len(body)
    assert (tmp_path / "1" / "2" / "abc.bin").read_bytes() == body
    read = [chunk async for chunk in store.read("1/2/abc.bin")]
    assert b"".join(read) == body
    assert max(len(chunk) for chunk in read) <= local.READ_CHUNK
    assert len(read) == 3
    assert leftovers(tmp_path) == []


async def test_an_empty_file_and_exactly_the_limit(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    assert await store.save("empty", chunks_of([]), "text/plain", 10) == 0
    assert await read_all(store, "empty") == b""
    assert await store.save("ten", chunks_of([b"12345", b"", b"67890"]), "text/plain", 10) == 10


async def test_too_large_keeps_nothing(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    with pytest.raises(TooLarge) as caught:
        await store.save("big", chunks_of([b"x" * 6, b"y" * 6]), "text/plain", 10)
    assert caught.value.limit == 10
    assert not (tmp_path / "big").exists()
    assert leftovers(tmp_path) == []


async def test_overwriting_on_too_large_keeps_the_old_whole_file(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    await store.save("k", chunks_of([b"old"]), "text/plain", 10)
    with pytest.raises(TooLarge):
        await store.save("k", chunks_of([b"new" * 10]), "text/plain", 10)
    assert await read_all(store, "k") == b"old"


async def test_upload_cut_off_keeps_nothing_and_the_error_propagates(tmp_path: Path) -> None:
    class ClientGone(ConnectionError):
        pass

    async def cut_off() -> AsyncIterator[bytes]:
        yield b"first half"
        raise ClientGone

    store = LocalStorage(tmp_path)
    with pytest.raises(ClientGone):
        await store.save("cut", cut_off(), "text/plain", 10**6)
    assert not (tmp_path / "cut").exists()
    assert leftovers(tmp_path) == []


async def test_cancelled_upload_keeps_nothing(tmp_path: Path) -> None:
    started = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"some bytes"
        started.set()
        await asyncio.sleep(60)
        yield b"never"

    store = LocalStorage(tmp_path)
    task = asyncio.create_task(store.save("slow", slow(), "text/plain", 10**6))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not (tmp_path / "slow").exists()
    assert leftovers(tmp_path) == []


async def test_read_missing_is_file_missing(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    with pytest.raises(FileMissing):
        await read_all(store, "nothing/here")
    (tmp_path / "adir").mkdir()
    with pytest.raises(FileMissing):
        await read_all(store, "adir")


async def test_delete_is_idempotent(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    await store.save("gone", chunks_of([b"x"]), "text/plain", 10)
    await store.delete("gone")
    await store.delete("gone")
    await store.delete("never/was")
    with pytest.raises(FileMissing):
        await read_all(store, "gone")


async def test_presigned_url_is_none_and_close_is_harmless(tmp_path: Path) -> None:
    store: Storage = LocalStorage(tmp_path)
    assert await store.presigned_url("a/b", 60, "x.png", "image/png") is None
    await store.close()


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "../outside",
        "a/../../outside",
        "a/./b",
        "a//b",
        "a/",
        ".",
        "..",
        "a\\b",
        "a b",
        "naïve",
        "a\x00b",
        "x" * 1025,
        ".incoming/x",
    ],
)
async def test_bad_keys_are_value_errors(tmp_path: Path, key: str) -> None:
    store = LocalStorage(tmp_path / "root")
    with pytest.raises(ValueError, match="invalid storage key"):
        check_key(key)
    with pytest.raises(ValueError, match="invalid storage key"):
        await store.save(key, chunks_of([b"x"]), "text/plain", 10)
    with pytest.raises(ValueError, match="invalid storage key"):
        await read_all(store, key)
    with pytest.raises(ValueError, match="invalid storage key"):
        await store.delete(key)
    assert everything_under(tmp_path) in ([], [tmp_path / "root"])


def test_good_keys_pass() -> None:
    for key in ["a", "1/2/3", "att_1/x.y-z", "..a", "a..b", ".hidden/file"]:
        assert check_key(key) == key


def test_the_factory_opens_the_local_store_by_default(tmp_path: Path) -> None:
    store = open_storage(Settings(data_dir=tmp_path))
    assert isinstance(store, LocalStorage)
    assert store.root == tmp_path / "files"


def test_the_factory_refuses_an_unknown_scheme_without_echoing_the_url(tmp_path: Path) -> None:
    with pytest.raises(StorageUnavailable, match="'ftp'") as caught:
        open_storage(Settings(data_dir=tmp_path, storage_url="ftp://user:hunter2@host/x"))
    assert "hunter2" not in str(caught.value)


async def test_the_factory_opens_the_s3_store_for_an_s3_url(tmp_path: Path) -> None:
    from voxsig.files.s3 import S3Storage

    settings = Settings(
        data_dir=tmp_path,
        storage_url="s3://bucket/prefix",
        storage_endpoint="http://127.0.0.1:9",
        storage_access_key="key",
        storage_secret_key="secret",
    )
    store = open_storage(settings)
    assert isinstance(store, S3Storage)
    await store.close()  # nothing was opened: no client until first use
