"""Multipart messages read as a stream: fields and files out, nothing left behind on failure."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from voxsig.config import Settings
from voxsig.files.local import LocalStorage
from voxsig.files.uploads import (
    Staged,
    UploadLimits,
    UploadRefused,
    clean_name,
    read_upload,
)

pytestmark = pytest.mark.anyio

BOUNDARY = "----voxsigTestBoundary7MA4YWxk"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
LIMITS = UploadLimits(max_file_bytes=200_000, max_message_bytes=300_000, max_files=3)
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + os.urandom(20_000) + b"\n%%EOF\n"


def png_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 90)).save(out, "PNG")
    return out.getvalue()


Part = tuple[str, bytes] | tuple[str, bytes, str]


def multipart(*parts: Part, boundary: str = BOUNDARY) -> bytes:
    """Text fields as (name, value), files as (name, bytes, file name)."""
    out = bytearray()
    for part in parts:
        out += f"--{boundary}\r\n".encode()
        if len(part) == 3:
            name, data, file_name = part
            out += (
                f'Content-Disposition: form-data; name="{name}"; filename="{file_name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
        else:
            name, data = part
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


async def chunked(body: bytes, size: int) -> AsyncIterator[bytes]:
    for at in range(0, len(body), size):
        await asyncio.sleep(0)
        yield body[at : at + size]


async def cut_off(body: bytes, after: int, size: int = 1000) -> AsyncIterator[bytes]:
    async for chunk in chunked(body[:after], size):
        yield chunk
    raise ConnectionResetError("client went away")


def stored_files(root: Path) -> list[Path]:
    """Every file under the store's root, `.incoming` included."""
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


async def read_back(store: LocalStorage, staged: Staged) -> bytes:
    return b"".join([chunk async for chunk in store.read(staged.key)])


@pytest.mark.parametrize("chunk_size", [7, 64 * 1024])
async def test_two_files_and_fields_round_trip(tmp_path: Path, chunk_size: int) -> None:
    store = LocalStorage(tmp_path)
    png = png_bytes()
    body = multipart(
        ("content", "Hello, here are the files é".encode()),
        ("message_type", b"outgoing"),
        ("private", b"false"),
        ("content_attributes", b'{"in_reply_to": 4}'),
        ("attachments[]", png, "../../etc/screen\u202eshot.png"),
        ("attachments", PDF, "invoice.pdf"),
    )
    upload = await read_upload(CONTENT_TYPE, chunked(body, chunk_size), store, LIMITS)
    assert upload.fields == {
        "content": "Hello, here are the files é",
        "message_type": "outgoing",
        "private": "false",
        "content_attributes": '{"in_reply_to": 4}',
    }
    image, document = upload.files
    assert (image.kind.content_type, image.kind.file_type, image.size) == (
        "image/png",
        "image",
        len(png),
    )
    assert image.file_name == "screenshot.png"
    assert (document.kind.content_type, document.file_name, document.size) == (
        "application/pdf",
        "invoice.pdf",
        len(PDF),
    )
    assert await read_back(store, image) == png
    assert await read_back(store, document) == PDF
    for staged in upload.files:
        assert staged.key.startswith("attachments/")
        assert len(staged.key.rsplit("/", 1)[1]) == 32
        assert "invoice" not in staged.key
        assert "shot" not in staged.key
    assert len(stored_files(tmp_path)) == 2


async def test_a_message_without_files_is_just_fields(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    body = multipart(("content", b"hi"), ("attachments[]", b"", ""))  # an empty file input
    upload = await read_upload(CONTENT_TYPE, chunked(body, 5), store, LIMITS)
    assert upload.fields == {"content": "hi"}
    assert upload.files == []
    assert stored_files(tmp_path) == []


async def test_a_file_over_the_limit_is_413_naming_it_and_nothing_is_left(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    big = PDF + os.urandom(LIMITS.max_file_bytes)
    body = multipart(("content", b"x"), ("attachments[]", big, "huge.pdf"))
    with pytest.raises(UploadRefused) as refused:
        await read_upload(CONTENT_TYPE, chunked(body, 64 * 1024), store, LIMITS)
    assert refused.value.status == 413
    assert refused.value.field == "attachments[0]"
    assert "huge.pdf" in refused.value.message
    assert stored_files(tmp_path) == []


async def test_the_message_budget_counts_every_file(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    limits = UploadLimits(max_file_bytes=30_000, max_message_bytes=35_000, max_files=5)
    body = multipart(("attachments[]", PDF, "a.pdf"), ("attachments[]", PDF, "b.pdf"))
    with pytest.raises(UploadRefused) as refused:
        await read_upload(CONTENT_TYPE, chunked(body, 4096), store, limits)
    assert (refused.value.status, refused.value.field) == (413, "attachments[1]")
    assert "b.pdf" in refused.value.message
    assert stored_files(tmp_path) == []


@pytest.mark.parametrize(
    ("data", "detected"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "svg"),
        (b"<!doctype html><html><script>alert(1)</script></html>", "text/html"),
    ],
)
async def test_markup_named_png_is_422_with_the_detected_type(
    tmp_path: Path, data: bytes, detected: str
) -> None:
    store = LocalStorage(tmp_path)
    body = multipart(("attachments[]", png_bytes(), "ok.png"), ("attachments[]", data, "cat.png"))
    with pytest.raises(UploadRefused) as refused:
        await read_upload(CONTENT_TYPE, chunked(body, 7), store, LIMITS)
    assert (refused.value.status, refused.value.field) == (422, "attachments[1]")
    assert "cat.png" in refused.value.message
    assert detected in refused.value.message
    assert stored_files(tmp_path) == []


async def test_too_many_files(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    body = multipart(*[("attachments[]", PDF, f"{n}.pdf") for n in range(LIMITS.max_files + 1)])
    with pytest.raises(UploadRefused) as refused:
        await read_upload(CONTENT_TYPE, chunked(body, 64 * 1024), store, LIMITS)
    assert (refused.value.status, refused.value.field) == (422, f"attachments[{LIMITS.max_files}]")
    assert stored_files(tmp_path) == []


@pytest.mark.parametrize("share", [0.005, 0.3, 0.75, 0.9999])
async def test_a_body_cut_off_midway_leaves_nothing(tmp_path: Path, share: float) -> None:
    store = LocalStorage(tmp_path)
    body = multipart(
        ("content", b"x"), ("attachments[]", PDF, "a.pdf"), ("attachments[]", PDF, "b.pdf")
    )
    with pytest.raises(ConnectionResetError):
        await read_upload(CONTENT_TYPE, cut_off(body, int(len(body) * share)), store, LIMITS)
    assert stored_files(tmp_path) == []


async def test_a_body_that_simply_stops_is_malformed(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    body = multipart(("attachments[]", PDF, "a.pdf"), ("attachments[]", PDF, "b.pdf"))
    with pytest.raises(UploadRefused) as refused:
        await read_upload(CONTENT_TYPE, chunked(body[:-200], 7), store, LIMITS)
    assert (refused.value.status, refused.value.field) == (422, "body")
    assert stored_files(tmp_path) == []


async def test_cancelled_midway_leaves_nothing(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    body = multipart(("attachments[]", PDF, "a.pdf"), ("attachments[]", PDF * 3, "b.pdf"))
    second_started = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        for at in range(0, len(body), 1000):
            if at > len(PDF) + 2000:
                second_started.set()
                await asyncio.sleep(3600)
            yield body[at : at + 1000]

    task = asyncio.ensure_future(read_upload(CONTENT_TYPE, slow(), store, LIMITS))
    await second_started.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stored_files(tmp_path) == []


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", multipart(("content", b"x"))),
        ('multipart/form-data; boundary=""', multipart(("content", b"x"))),
        ("application/json", b'{"content": "x"}'),
        (CONTENT_TYPE, b"this is not multipart at all\r\n" * 100),
        (CONTENT_TYPE, multipart(("content", b"x"), boundary="other")),
        (CONTENT_TYPE, b""),
        (CONTENT_TYPE, f"--{BOUNDARY}\r\nX-Nothing: here\r\n\r\nhi\r\n--{BOUNDARY}--\r\n".encode()),
    ],
)
async def test_no_boundary_or_garbage_is_422(
    tmp_path: Path, content_type: str, body: bytes
) -> None:
    store = LocalStorage(tmp_path)
    with pytest.raises(UploadRefused) as refused:
        await read_upload(content_type, chunked(body, 7), store, LIMITS)
    assert (refused.value.status, refused.value.field) == (422, "body")
    assert stored_files(tmp_path) == []


async def test_garbage_after_a_stored_file_deletes_it(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    good = multipart(("attachments[]", PDF, "a.pdf")).rsplit(b"--\r\n", 1)[0]
    body = good + b"\r\nnot a part header at all\r\n\r\n" + os.urandom(5000)
    with pytest.raises(UploadRefused) as refused:
        await read_upload(CONTENT_TYPE, chunked(body, 999), store, LIMITS)
    assert refused.value.status == 422
    assert stored_files(tmp_path) == []


async def test_a_text_field_too_large_is_413(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    content = b"a" * (LIMITS.max_field_bytes + 1)
    body = multipart(("attachments[]", PDF, "a.pdf"), ("content", content))
    with pytest.raises(UploadRefused) as refused:
        await read_upload(CONTENT_TYPE, chunked(body, 64 * 1024), store, LIMITS)
    assert (refused.value.status, refused.value.field) == (413, "content")
    assert stored_files(tmp_path) == []


async def test_a_repeated_field_and_too_many_fields_are_refused(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    body = multipart(("content", b"a"), ("content", b"b"))
    with pytest.raises(UploadRefused) as refused:
        await read_upload(CONTENT_TYPE, chunked(body, 7), store, LIMITS)
    assert (refused.value.status, refused.value.field) == (422, "content")

    limits = UploadLimits(max_file_bytes=10, max_message_bytes=10, max_files=1, max_fields=2)
    body = multipart(("a", b"1"), ("b", b"2"), ("c", b"3"))
    with pytest.raises(UploadRefused) as refused:
        await read_upload(CONTENT_TYPE, chunked(body, 7), store, limits)
    assert (refused.value.status, refused.value.field) == (422, "c")


async def test_files_under_other_names_and_text_attachments_are_refused(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    for parts in (
        [("avatar", PDF, "a.pdf")],
        [("attachments[]", b"just text")],
        [("attachments[]", b"", "empty.txt")],
        [("content", b"\xff\xfe not utf-8")],
    ):
        with pytest.raises(UploadRefused) as refused:
            await read_upload(CONTENT_TYPE, chunked(multipart(*parts), 7), store, LIMITS)
        assert refused.value.status == 422
    assert stored_files(tmp_path) == []


async def test_the_second_file_failing_deletes_the_first(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    body = multipart(
        ("attachments[]", png_bytes(), "a.png"), ("attachments[]", b"\x00\x01\x02" * 50, "b.bin")
    )
    with pytest.raises(UploadRefused) as refused:
        await read_upload(CONTENT_TYPE, chunked(body, 64 * 1024), store, LIMITS)
    assert (refused.value.status, refused.value.field) == (422, "attachments[1]")
    assert "b.bin" in refused.value.message
    assert stored_files(tmp_path) == []


def test_limits_from_settings_and_names_for_display() -> None:
    settings = Settings()
    limits = UploadLimits.from_settings(settings)
    assert limits.max_file_bytes == settings.attachment_max_bytes
    assert limits.max_message_bytes == settings.attachment_max_message_bytes
    assert limits.max_files == settings.attachment_max_files
    assert clean_name("C:\\Users\\me\\report.pdf") == "report.pdf"
    assert clean_name("../..") == "file"
    assert clean_name("a\x00b\u202e.txt") == "ab.txt"
    assert len(clean_name("x" * 1000)) == 255


class RecordingStore(LocalStorage):
    """Notes whether each file's first bytes reached the store before the body had ended."""

    def __init__(self, root: Path, body_done: asyncio.Event) -> None:
        super().__init__(root)
        self.body_done = body_done
        self.early: list[bool] = []

    async def save(
        self, key: str, chunks: AsyncIterator[bytes], content_type: str, max_bytes: int
    ) -> int:
        async def watched() -> AsyncIterator[bytes]:
            first = True
            async for chunk in chunks:
                if first:
                    self.early.append(not self.body_done.is_set())
                    first = False
                yield chunk

        return await super().save(key, watched(), content_type, max_bytes)


async def test_files_stream_into_the_store_while_the_body_arrives(tmp_path: Path) -> None:
    body_done = asyncio.Event()
    store = RecordingStore(tmp_path, body_done)
    body = multipart(("attachments[]", PDF, "a.pdf"), ("content", b"after the file"))

    async def arriving() -> AsyncIterator[bytes]:
        async for chunk in chunked(body, 1024):
            yield chunk
        body_done.set()

    upload = await read_upload(CONTENT_TYPE, arriving(), store, LIMITS)
    assert store.early == [True]
    assert upload.fields == {"content": "after the file"}
    assert await read_back(store, upload.files[0]) == PDF
