"""The after-commit deleter: it deletes what a committed transaction doomed, only that, once,
and a store that fails is logged, never raised to whoever deleted the contact."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from voxsig.db import Database
from voxsig.files.lifecycle import DOOMED, AfterCommit
from voxsig.files.local import LocalStorage

pytestmark = pytest.mark.anyio


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


class BrokenStore(LocalStorage):
    """A local store whose deletes fail for the keys named (an S3 outage, a read-only disk)."""

    def __init__(self, root: Path, failing: set[str]) -> None:
        super().__init__(root)
        self.failing = failing

    async def delete(self, key: str) -> None:
        if key in self.failing:
            raise OSError(f"the store is down ({key})")
        await super().delete(key)


async def _stored(store: LocalStorage, *keys: str) -> None:
    for key in keys:
        await store.save(key, _once(b"bytes of " + key.encode()), "application/pdf", 1024)


def _present(store: LocalStorage, *keys: str) -> list[str]:
    return [key for key in keys if store.path_of(key).is_file()]


async def test_doomed_files_go_after_the_commit_and_not_after_a_rollback(
    db: Database, tmp_path: Path
) -> None:
    store = LocalStorage(tmp_path / "files")
    await _stored(store, "a/1", "a/2", "b/1")
    deleter = AfterCommit(store)
    db.on_commit(deleter)

    async def failing_delete() -> None:
        async with db.transaction() as session:
            session.info.setdefault(DOOMED, []).append("b/1")
            raise RuntimeError("the delete failed: nothing may be removed")

    with pytest.raises(RuntimeError):
        await failing_delete()
    async with db.transaction() as session:
        session.info.setdefault(DOOMED, []).extend(["a/1", "a/2"])
    await deleter.drain()
    assert _present(store, "a/1", "a/2", "b/1") == ["b/1"]


async def test_a_failing_store_is_logged_and_the_rest_still_deleted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = BrokenStore(tmp_path / "files", failing={"a/2"})
    await _stored(store, "a/1", "a/2", "a/3")
    deleter = AfterCommit(store)
    info: dict[str, Any] = {DOOMED: ["a/1", "a/2", "a/3"]}
    with caplog.at_level(logging.WARNING, logger="voxsig.files"):
        deleter(info)  # as Database.committed calls it: no exception may come out
        await deleter.drain()
    assert _present(store, "a/1", "a/2", "a/3") == ["a/2"]
    assert DOOMED not in info  # taken: a later commit of the session does not delete again
    (record,) = [r for r in caplog.records if "a/2" in r.getMessage()]
    assert record.levelno == logging.WARNING
