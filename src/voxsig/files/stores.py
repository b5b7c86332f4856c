"""The store the settings name: `storage_url` "" is the local directory `data_dir/files`;
`s3://bucket/prefix` is an S3-compatible object store (`voxsig.files.s3`, imported only then)."""

from __future__ import annotations

import importlib

from voxsig.config import Settings
from voxsig.files.local import LocalStorage
from voxsig.files.storage import Storage


class StorageUnavailable(RuntimeError):
    """The configured store cannot be opened (an unknown scheme, or no S3 support)."""


def open_storage(settings: Settings) -> Storage:
    url = settings.storage_url.strip()
    if not url:
        return LocalStorage(settings.data_dir / "files")
    if url.lower().startswith("s3://"):
        try:
            module = importlib.import_module("voxsig.files.s3")
        except ImportError as error:
            raise StorageUnavailable(
                "VOXSIG_STORAGE_URL names an S3 store, but this build has no S3 support "
                f"(voxsig.files.s3 could not be imported: {error})"
            ) from error
        store: Storage = module.S3Storage.from_settings(settings)
        return store
    # Only the scheme in the message: the rest of a URL may hold credentials.
    scheme = url.split("://", 1)[0] if "://" in url else "(none)"
    raise StorageUnavailable(
        f"VOXSIG_STORAGE_URL: unknown store scheme {scheme!r} (leave it empty for local disk, "
        "or give s3://bucket/prefix)"
    )
