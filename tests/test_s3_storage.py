"""The S3 store against a real S3-protocol server (moto's standalone server on 127.0.0.1): real
HTTP, real signatures, real multipart uploads and presigned URLs, no mocked client."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aioboto3
import httpx
import pytest

from harness.s3 import ACCESS_KEY, REGION, SECRET_KEY, MotoServer
from voxsig.config import Settings
from voxsig.files.s3 import PART_SIZE, S3Storage
from voxsig.files.storage import content_disposition
from voxsig.files.storage import FileMissing, Storage, TooLarge

pytestmark = pytest.mark.anyio

MB = 1024 * 1024
CHUNK = 64 * 1024


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def admin(s3_server: MotoServer) -> AsyncIterator[Any]:
    """A plain S3 client, to look at the bucket behind the store's back."""
    session = aioboto3.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
    )
    async with session.client("s3", endpoint_url=s3_server.endpoint) as client:
        yield client


@pytest.fixture
async def bucket(admin: Any) -> str:
    """A bucket of the test's own, so no test sees another's objects or uploads."""
    name = f"voxsig-{uuid.uuid4().hex[:12]}"
    await admin.create_bucket(Bucket=name)
    return name


@pytest.fixture
async def store(s3_server: MotoServer, bucket: str) -> AsyncIterator[S3Storage]:
    storage = S3Storage.from_settings(_settings(s3_server, f"s3://{bucket}/attachments"))
    try:
        yield storage
    finally:
        await storage.close()


def _settings(server: MotoServer, url: str) -> Settings:
    return Settings(
        storage_url=url,
        storage_endpoint=server.endpoint,
        storage_region=REGION,
        storage_access_key=ACCESS_KEY,
        storage_secret_key=SECRET_KEY,
    )


async def _chunks(data: bytes, size: int = CHUNK) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _failing_after(data: bytes, fail_at: int) -> AsyncIterator[bytes]:
    """The bytes, until `fail_at` of them were sent: then the upload is cut off."""
    async for chunk in _chunks(data):
        if fail_at <= 0:
            raise ConnectionResetError("the visitor went away")
        fail_at -= len(chunk)
        yield chunk


async def _read_all(storage: Storage, key: str) -> bytes:
    return b"".join([chunk async for chunk in storage.read(key)])


async def _keys(admin: Any, bucket: str) -> list[str]:
    listing = await admin.list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


async def _pending_uploads(admin: Any, bucket: str) -> list[str]:
    listing = await admin.list_multipart_uploads(Bucket=bucket)
    return [upload["Key"] for upload in listing.get("Uploads", [])]


# -- round trips -----------------------------------------------------------------------------


async def test_small_object_round_trip(store: S3Storage, admin: Any, bucket: str) -> None:
    data = b"hello, attachments\n" * 100
    size = await store.save("a/small.txt", _chunks(data, 7), "text/plain", 10 * MB)
    assert size == len(data)
    assert await _read_all(store, "a/small.txt") == data
    head = await admin.head_object(Bucket=bucket, Key="attachments/a/small.txt")
    assert head["ContentType"] == "text/plain"
    assert head["ContentLength"] == len(data)


async def test_large_streamed_object_is_a_multipart_upload(
    store: S3Storage, admin: Any, bucket: str
) -> None:
    data = os.urandom(12 * MB + 12345)  # not a multiple of the part or chunk size
    size = await store.save("big.bin", _chunks(data), "application/octet-stream", 40 * MB)
    assert size == len(data)
    head = await admin.head_object(Bucket=bucket, Key="attachments/big.bin")
    # A multipart object's ETag is "<md5 of the parts' md5s>-<number of parts>".
    assert head["ETag"].strip('"').endswith(f"-{-(-len(data) // PART_SIZE)}")
    back = await _read_all(store, "big.bin")
    assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest()
    assert await _pending_uploads(admin, bucket) == []


async def test_ten_megabytes_timed(store: S3Storage, capsys: pytest.CaptureFixture[str]) -> None:
    """Measures, and prints, a 10 MB upload and download (the issue's closing note quotes it)."""
    data = os.urandom(10 * MB)
    started = time.perf_counter()
    await store.save("ten.bin", _chunks(data), "application/octet-stream", 40 * MB)
    uploaded = time.perf_counter()
    back = await _read_all(store, "ten.bin")
    downloaded = time.perf_counter()
    assert back == data
    with capsys.disabled():
        print(
            f"\n10 MB against moto on 127.0.0.1: upload {uploaded - started:.2f} s, "
            f"download {downloaded - uploaded:.2f} s"
        )


# -- nothing left behind ---------------------------------------------------------------------


async def test_too_large_midway_leaves_no_object_and_no_upload(
    store: S3Storage, admin: Any, bucket: str
) -> None:
    data = os.urandom(20 * MB)
    with pytest.raises(TooLarge) as raised:
        # Past two parts before the limit is hit: a multipart upload is under way.
        await store.save("too-big.bin", _chunks(data), "application/octet-stream", 17 * MB)
    assert raised.value.limit == 17 * MB
    assert await _keys(admin, bucket) == []
    assert await _pending_uploads(admin, bucket) == []


async def test_too_large_below_one_part_keeps_nothing(
    store: S3Storage, admin: Any, bucket: str
) -> None:
    with pytest.raises(TooLarge):
        await store.save("small.bin", _chunks(b"x" * 2000, 100), "text/plain", 1000)
    assert await _keys(admin, bucket) == []


@pytest.mark.parametrize("fail_at", [1 * MB, 13 * MB], ids=["in-first-part", "mid-multipart"])
async def test_source_failing_midway_leaves_nothing(
    store: S3Storage, admin: Any, bucket: str, fail_at: int
) -> None:
    data = os.urandom(20 * MB)
    with pytest.raises(ConnectionResetError):
        await store.save("cut.bin", _failing_after(data, fail_at), "image/png", 40 * MB)
    assert await _keys(admin, bucket) == []
    assert await _pending_uploads(admin, bucket) == []
    with pytest.raises(FileMissing):
        await _read_all(store, "cut.bin")


async def test_cancelled_save_aborts_its_upload(store: S3Storage, admin: Any, bucket: str) -> None:
    """A save cancelled mid-multipart (the request handler torn down) aborts the upload."""
    stalled = asyncio.Event()

    async def stalling() -> AsyncIterator[bytes]:
        async for chunk in _chunks(os.urandom(10 * MB)):
            yield chunk
        stalled.set()  # the first part is up: the store pulled past it
        await asyncio.sleep(3600)

    save = asyncio.create_task(store.save("stalled.bin", stalling(), "video/mp4", 40 * MB))
    await asyncio.wait_for(stalled.wait(), 60)
    assert await _pending_uploads(admin, bucket) == ["attachments/stalled.bin"]
    save.cancel()
    with pytest.raises(asyncio.CancelledError):
        await save
    assert await _pending_uploads(admin, bucket) == []
    assert await _keys(admin, bucket) == []


# -- presigned URLs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("invoice 2026.pdf", 'attachment; filename="invoice 2026.pdf"'),
        (
            'Rechnung "März".pdf',
            'attachment; filename="Rechnung _M_rz_.pdf"; '
            "filename*=UTF-8''Rechnung%20%22M%C3%A4rz%22.pdf",
        ),
    ],
    ids=["ascii", "non-ascii-and-quotes"],
)
async def test_presigned_url_serves_bytes_type_and_name(
    store: S3Storage, file_name: str, expected: str
) -> None:
    data = b"%PDF-1.4 not really a pdf\n" * 50
    await store.save("doc/1", _chunks(data), "application/pdf", MB)
    url = await store.presigned_url("doc/1", 300, file_name, "application/pdf")
    async with httpx.AsyncClient() as http:
        answer = await http.get(url)
    assert answer.status_code == 200, answer.text
    assert answer.content == data
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == expected


async def test_presigned_url_is_signed_and_expires(store: S3Storage) -> None:
    """moto (unlike a real store) does not check signatures unless it runs with IAM auth, so
    the test checks what the store must be given: a SigV4 query signature over the response
    overrides, expiring after the seconds asked for."""
    await store.save("doc/2", _chunks(b"bytes"), "text/plain", MB)
    url = httpx.URL(await store.presigned_url("doc/2", 321, "a.txt", "text/plain"))
    assert url.params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert url.params["X-Amz-Expires"] == "321"
    assert len(url.params["X-Amz-Signature"]) == 64
    assert url.params["response-content-type"] == "text/plain"
    assert url.params["response-content-disposition"] == 'attachment; filename="a.txt"'
    assert url.path.endswith("/attachments/doc/2")  # path-style: /bucket/prefix/key


def test_content_disposition_cannot_break_the_header() -> None:
    header = content_disposition('evil"\r\nSet-Cookie: a=b\\.html')
    assert "\r" not in header
    assert "\n" not in header
    fallback = header.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback == "evil___Set-Cookie: a=b_.html"
    assert header.endswith("filename*=UTF-8''evil%22%0D%0ASet-Cookie%3A%20a%3Db%5C.html")


# -- missing keys, deletes, prefixes ---------------------------------------------------------


async def test_read_of_a_missing_key_is_file_missing(store: S3Storage) -> None:
    with pytest.raises(FileMissing):
        await _read_all(store, "never/written")


async def test_delete_twice_is_fine(store: S3Storage, admin: Any, bucket: str) -> None:
    await store.save("gone", _chunks(b"bytes"), "text/plain", MB)
    await store.delete("gone")
    await store.delete("gone")
    await store.delete("never-there")
    assert await _keys(admin, bucket) == []
    with pytest.raises(FileMissing):
        await _read_all(store, "gone")


async def test_prefix_is_honoured(s3_server: MotoServer, admin: Any, bucket: str) -> None:
    nested = S3Storage.from_settings(_settings(s3_server, f"s3://{bucket}/tenant/one/"))
    bare = S3Storage.from_settings(_settings(s3_server, f"s3://{bucket}"))
    try:
        await nested.save("k", _chunks(b"nested"), "text/plain", MB)
        await bare.save("k", _chunks(b"bare"), "text/plain", MB)
        assert sorted(await _keys(admin, bucket)) == ["k", "tenant/one/k"]
        assert await _read_all(nested, "k") == b"nested"
        assert await _read_all(bare, "k") == b"bare"
        assert await _read_all(bare, "tenant/one/k") == b"nested"
    finally:
        await nested.close()
        await bare.close()


# -- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"storage_url": "https://bucket/prefix"}, "VOXSIG_STORAGE_URL"),
        ({"storage_url": "s3:///prefix"}, "VOXSIG_STORAGE_URL"),
        ({"storage_url": "s3://Bad_Bucket/x"}, "VOXSIG_STORAGE_URL"),
        ({"storage_url": "s3://bucket/a/../b"}, "VOXSIG_STORAGE_URL"),
        ({"storage_url": "s3://bucket/x?y=1"}, "VOXSIG_STORAGE_URL"),
        ({"storage_endpoint": "ftp://127.0.0.1"}, "VOXSIG_STORAGE_ENDPOINT"),
        ({"storage_access_key": ""}, "VOXSIG_STORAGE_ACCESS_KEY"),
        ({"storage_secret_key": " "}, "VOXSIG_STORAGE_SECRET_KEY"),
        ({"storage_region": ""}, "VOXSIG_STORAGE_REGION"),
    ],
)
def test_bad_settings_name_the_setting(changes: dict[str, str], setting: str) -> None:
    values = {
        "storage_url": "s3://bucket/prefix",
        "storage_endpoint": "http://127.0.0.1:9000",
        "storage_region": REGION,
        "storage_access_key": ACCESS_KEY,
        "storage_secret_key": SECRET_KEY,
        **changes,
    }
    with pytest.raises(ValueError, match=setting):
        S3Storage.from_settings(Settings(**values))  # type: ignore[arg-type]


def test_good_settings_parse_bucket_and_prefix() -> None:
    store = S3Storage.from_settings(
        Settings(
            storage_url="s3://my.bucket-1/files/voxsig/",
            storage_access_key=ACCESS_KEY,
            storage_secret_key=SECRET_KEY,
        )
    )
    assert (store.bucket, store.prefix) == ("my.bucket-1", "files/voxsig")
    assert store.object_key("a/b") == "files/voxsig/a/b"
