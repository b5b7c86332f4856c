"""Attachments in any S3-compatible object store (AWS S3, MinIO, Ceph, R2, ...), so several
Voxsig machines share one store.

The client is aioboto3 (aiobotocore underneath), chosen over obstore and minio:
- async on aiohttp, which Voxsig already ships: no thread per request. minio's SDK is
  synchronous (urllib3), so every call would need a thread.
- presigned GETs take `ResponseContentDisposition` and `ResponseContentType`, so the store
  serves a file under its display name and type. obstore's `sign` is object_store's `Signer`
  (a method, a path and an expiry), with no response-header overrides, so the name would have
  to be written into the object at upload, where `save` does not know it.
- the low-level multipart calls (create, upload part, complete, abort) are ours to drive, so
  the size limit is checked on every chunk while streaming and any failure aborts the upload
  explicitly; with obstore the multipart upload behind a streamed put is its own.
- endpoint_url plus path-style addressing reach any S3-compatible server, plain http included
  (the tests' moto on 127.0.0.1).
- maintained with botocore's releases (aiobotocore follows them within weeks); pure-Python
  wheels (py3-none-any), so Linux x86_64 and Python 3.11 are covered.
The cost is size: botocore installs about 30 MB of service models, against a few MB for
obstore's Rust wheel. It is worth it for presigned names and an upload we control.

Layout: the object for key K is `<prefix>/K` in the bucket of `VOXSIG_STORAGE_URL`
(`s3://bucket/prefix`). Objects below `PART_SIZE` are one PUT (atomic in S3); larger ones a
multipart upload, which S3 shows only once completed: either way no reader sees half a file.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import urllib.parse
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import ClientError

from voxsig.files.storage import FileMissing, TooLarge, content_disposition

if TYPE_CHECKING:
    from voxsig.config import Settings

# S3 refuses parts under 5 MiB (but the last). 8 MiB bounds the memory one upload holds and
# keeps a 40 MB file to five parts.
PART_SIZE = 8 * 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024
READ_CHUNK = 256 * 1024
# DNS-compatible bucket names, which are what path-style and virtual-host URLs both accept.
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class S3Storage:
    """The `Storage` of one bucket and prefix. The client is made on first use (a constructor
    cannot await) and closed by `close`."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str = "",
        region: str = "us-east-1",
        access_key: str,
        secret_key: str,
        part_size: int = PART_SIZE,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.part_size = part_size
        self._session = aioboto3.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        self._endpoint = endpoint or None
        self._client: Any = None
        self._exit = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        """The store `VOXSIG_STORAGE_URL` and its companion settings name; a ValueError naming
        the setting when one is wrong or missing."""
        bucket, prefix = parse_storage_url(settings.storage_url)
        endpoint = check_endpoint(settings.storage_endpoint)
        for name, value in (
            ("VOXSIG_STORAGE_ACCESS_KEY", settings.storage_access_key),
            ("VOXSIG_STORAGE_SECRET_KEY", settings.storage_secret_key),
            ("VOXSIG_STORAGE_REGION", settings.storage_region),
        ):
            if not value.strip():
                raise ValueError(f"{name} must be set when VOXSIG_STORAGE_URL is an s3:// URL")
        return cls(
            bucket,
            prefix,
            endpoint=endpoint,
            region=settings.storage_region.strip(),
            access_key=settings.storage_access_key,
            secret_key=settings.storage_secret_key,
        )

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    # -- the Storage protocol ----------------------------------------------------------------

    async def save(
        self, key: str, chunks: AsyncIterator[bytes], content_type: str, max_bytes: int
    ) -> int:
        client = await self._get_client()
        buffer = bytearray()
        size = 0
        async for chunk in chunks:
            size = _count(size, chunk, max_bytes)
            buffer += chunk
            if len(buffer) >= self.part_size:
                # Too big for one PUT: the rest goes up as a multipart upload.
                return await self._save_multipart(
                    client, key, buffer, size, chunks, content_type, max_bytes
                )
        await client.put_object(
            Bucket=self.bucket,
            Key=self.object_key(key),
            Body=bytes(buffer),
            ContentType=content_type,
        )
        return size

    async def read(self, key: str) -> AsyncIterator[bytes]:
        client = await self._get_client()
        try:
            response = await client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if _error_code(exc) in MISSING_CODES:
                raise FileMissing(key) from exc
            raise
        body = response["Body"]
        # Entered for its exit, which releases the connection even if the reader stops early;
        # read through the wrapper, which checks the length against Content-Length.
        async with body:
            async for chunk in body.iter_chunks(READ_CHUNK):
                yield chunk

    async def delete(self, key: str) -> None:
        # S3 answers 204 for a key that is not there, so a second delete is no error.
        client = await self._get_client()
        await client.delete_object(Bucket=self.bucket, Key=self.object_key(key))

    async def presigned_url(
        self, key: str, expires_in: int, file_name: str, content_type: str, inline: bool = False
    ) -> str:
        client = await self._get_client()
        url: str = await client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self.object_key(key),
                "ResponseContentDisposition": content_disposition(file_name, inline=inline),
                "ResponseContentType": content_type,
            },
            ExpiresIn=expires_in,
        )
        return url

    async def close(self) -> None:
        async with self._lock:
            await self._exit.aclose()
            self._client = None

    # -- internals ---------------------------------------------------------------------------

    async def _get_client(self) -> Any:
        async with self._lock:
            if self._client is None:
                self._client = await self._exit.enter_async_context(
                    self._session.client("s3", endpoint_url=self._endpoint, config=_client_config())
                )
            return self._client

    async def _save_multipart(
        self,
        client: Any,
        key: str,
        buffer: bytearray,
        size: int,
        chunks: AsyncIterator[bytes],
        content_type: str,
        max_bytes: int,
    ) -> int:
        object_key = self.object_key(key)
        created = await client.create_multipart_upload(
            Bucket=self.bucket, Key=object_key, ContentType=content_type
        )
        upload = _Upload(client, self.bucket, object_key, created["UploadId"])
        try:
            await upload.part(bytes(buffer))
            buffer.clear()
            async for chunk in chunks:
                size = _count(size, chunk, max_bytes)
                buffer += chunk
                if len(buffer) >= self.part_size:
                    await upload.part(bytes(buffer))
                    buffer.clear()
            if buffer:
                await upload.part(bytes(buffer))
            await upload.complete()
        except BaseException:
            # Cancelled, too large, the source or the store failing: the parts are thrown away
            # (S3 would otherwise keep, and bill, them until a lifecycle rule ran).
            await upload.abort()
            raise
        return size


class _Upload:
    """One multipart upload's id and the parts sent so far."""

    def __init__(self, client: Any, bucket: str, key: str, upload_id: str) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.upload_id = upload_id
        self.parts: list[dict[str, Any]] = []

    async def part(self, data: bytes) -> None:
        number = len(self.parts) + 1
        answer = await self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
        )
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    async def complete(self) -> None:
        await self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )

    async def abort(self) -> None:
        # Shielded: a cancelled save must still abort. If the store is unreachable there is
        # nothing more to do here; the original error is the one worth raising.
        with contextlib.suppress(Exception):
            await asyncio.shield(
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
                )
            )


def _count(size: int, chunk: bytes, max_bytes: int) -> int:
    size += len(chunk)
    if size > max_bytes:
        raise TooLarge(max_bytes)
    return size


def _error_code(exc: ClientError) -> str:
    error: dict[str, Any] = exc.response.get("Error", {})
    return str(error.get("Code", ""))


def _client_config() -> Config:
    return Config(
        signature_version="s3v4",
        # Path-style (`endpoint/bucket/key`) works on every S3-compatible server and needs no
        # DNS per bucket; AWS accepts it too.
        s3={"addressing_style": "path"},
        # Checksums only where the protocol requires them: several S3-compatible servers reject
        # the CRC headers that newer botocore adds by default.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"max_attempts": 3, "mode": "standard"},
    )


def parse_storage_url(url: str) -> tuple[str, str]:
    """`s3://bucket/prefix` as (bucket, prefix); the prefix may be empty."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme != "s3":
        raise ValueError(f"VOXSIG_STORAGE_URL must look like s3://bucket/prefix, not {url!r}")
    if parts.query or parts.fragment or parts.username or parts.port:
        raise ValueError(f"VOXSIG_STORAGE_URL takes only a bucket and a prefix, not {url!r}")
    bucket = parts.hostname or ""
    if not BUCKET_NAME.match(bucket) or ".." in bucket:
        raise ValueError(
            f"VOXSIG_STORAGE_URL names no valid bucket ({bucket!r}): 3 to 63 lowercase letters, "
            "digits, dots and hyphens"
        )
    prefix = parts.path.strip("/")
    if any(segment in ("", ".", "..") for segment in prefix.split("/")) and prefix:
        raise ValueError(f"VOXSIG_STORAGE_URL has an empty or dot segment in its prefix: {url!r}")
    return bucket, prefix


def check_endpoint(endpoint: str) -> str:
    """'' (AWS itself) or an http(s) URL of the S3-compatible server."""
    endpoint = endpoint.strip()
    if not endpoint:
        return ""
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"VOXSIG_STORAGE_ENDPOINT must be an http:// or https:// URL, not {endpoint!r}"
        )
    return endpoint
