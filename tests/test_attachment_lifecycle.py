"""Where an attachment's files go when what owns them goes, on both databases and the server's
local disk: deleting a contact or an inbox removes its messages' files (and only theirs), and
the retention (VOXSIG_ATTACHMENT_RETENTION_DAYS) deletes old attachments' files and rows batch
by batch while their messages keep their text."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import Backend
from tests.support.client import ApiClient, ok
from tests.support.deployment import DeployFactory
from tests.support.factories import messages_of, setup_thread
from tests.support.files import PDF, png, post_files
from tests.support.waiting import wait_until
from voxsig.db import Database
from voxsig.files.lifecycle import DOOMED, forget_account_files
from voxsig.files.local import LocalStorage
from voxsig.files.retention import purge_expired
from voxsig.kit.clock import utcnow
from voxsig.models import Attachment

T = TypeVar("T")


def in_database(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Runs `work` in one committed transaction on the server's database, from the test."""

    async def run() -> T:
        db = Database(url)
        try:
            async with db.transaction() as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(run())


def keys_of_message(url: str, message_id: int) -> list[str]:
    async def read(session: AsyncSession) -> list[str]:
        rows = await session.execute(
            select(Attachment.storage_key, Attachment.thumb_key)
            .where(Attachment.message_id == message_id)
            .order_by(Attachment.id)
        )
        return [key for pair in rows.all() for key in pair if key]

    return in_database(url, read)


def age_attachments(url: str, message_id: int, days: float) -> None:
    async def age(session: AsyncSession) -> None:
        await session.execute(
            update(Attachment)
            .where(Attachment.message_id == message_id)
            .values(created_at=utcnow() - timedelta(days=days))
        )

    in_database(url, age)


def on_disk(data_dir: Path, keys: list[str]) -> list[str]:
    return [key for key in keys if (data_dir / "files" / key).is_file()]


def with_files(api: ApiClient, conversation_id: int, content: str) -> int:
    """A message with an image (so a thumbnail too) and a PDF: its id."""
    files = [("photo.png", png(300, 200)), ("invoice.pdf", PDF)]
    message_id: int = ok(post_files(api, conversation_id, files, content=content))["id"]
    return message_id


def sent(api: ApiClient, backend: Backend, conversation_id: int, content: str) -> list[str]:
    """with_files, and the store keys of the message's files (all stored)."""
    message_id = with_files(api, conversation_id, content)
    keys = keys_of_message(backend.database_url, message_id)
    assert len(keys) == 3  # image, its thumbnail, PDF
    assert on_disk(backend.server.data_dir, keys) == keys
    return keys


def test_deleting_a_contact_removes_its_messages_files_and_only_theirs(
    api: ApiClient, backend: Backend
) -> None:
    _, contact, conversation = setup_thread(api, "Gone Soon")
    _, _, kept_conversation = setup_thread(api, "Stays")
    doomed = sent(api, backend, conversation["id"], "from the contact deleted")
    kept = sent(api, backend, kept_conversation["id"], "from the contact kept")

    ok(api.delete(f"contacts/{contact['id']}"))
    data_dir = backend.server.data_dir
    wait_until(
        lambda: on_disk(data_dir, doomed) == [],
        10,
        lambda: f"files still stored: {on_disk(data_dir, doomed)}",
    )
    assert on_disk(data_dir, kept) == kept
    (message,) = messages_of(api, kept_conversation["id"])
    assert len(message["attachments"]) == 2


def test_deleting_an_inbox_removes_its_messages_files(api: ApiClient, backend: Backend) -> None:
    inbox, _, conversation = setup_thread(api)
    _, _, kept_conversation = setup_thread(api)
    doomed = sent(api, backend, conversation["id"], "in the inbox deleted")
    kept = sent(api, backend, kept_conversation["id"], "in another inbox")

    ok(api.delete(f"inboxes/{inbox['id']}"))
    data_dir = backend.server.data_dir
    wait_until(
        lambda: on_disk(data_dir, doomed) == [],
        10,
        lambda: f"files still stored: {on_disk(data_dir, doomed)}",
    )
    assert on_disk(data_dir, kept) == kept


def test_an_account_delete_would_doom_every_file_of_the_account(
    api: ApiClient, make_account: Callable[..., ApiClient], backend: Backend
) -> None:
    """No route deletes an account yet: the collecting half, for the one that will."""
    _, _, first = setup_thread(api)
    _, _, second = setup_thread(api)
    other = make_account("Other", "Olga Other")
    _, _, elsewhere = setup_thread(other)
    mine = sent(api, backend, first["id"], "one") + sent(api, backend, second["id"], "two")
    sent(other, backend, elsewhere["id"], "another account's")

    async def collect(session: AsyncSession) -> list[str]:
        await forget_account_files(session, api.account_id)
        doomed: list[str] = session.info.pop(DOOMED)
        return doomed

    assert sorted(in_database(backend.database_url, collect)) == sorted(mine)


def test_retention_deletes_old_files_and_rows_batch_by_batch_and_keeps_the_text(
    api: ApiClient, backend: Backend
) -> None:
    _, _, conversation = setup_thread(api)
    old_ids, old_keys = [], []
    for n in range(3):
        message_id = with_files(api, conversation["id"], f"old {n}")
        old_ids.append(message_id)
        old_keys += keys_of_message(backend.database_url, message_id)
        age_attachments(backend.database_url, message_id, days=10)
    fresh = sent(api, backend, conversation["id"], "new")
    data_dir = backend.server.data_dir

    async def purge() -> int:
        db = Database(backend.database_url)
        storage = LocalStorage(data_dir / "files")
        try:
            # Batches of one row: six old rows (an image and a PDF each) take seven batches.
            return await purge_expired(db, storage, days=7, batch=1)
        finally:
            await storage.close()
            await db.dispose()

    assert asyncio.run(purge()) == 6
    assert on_disk(data_dir, old_keys) == []
    assert on_disk(data_dir, fresh) == fresh
    listed = {m["content"]: m for m in messages_of(api, conversation["id"])}
    assert sorted(listed) == ["new", "old 0", "old 1", "old 2"]
    assert all(listed[f"old {n}"]["attachments"] == [] for n in range(3))
    assert len(listed["new"]["attachments"]) == 2
    assert all(keys_of_message(backend.database_url, i) == [] for i in old_ids)
    assert asyncio.run(purge()) == 0  # idempotent: nothing more is old enough


def test_the_worker_purges_expired_attachments(deploy: DeployFactory) -> None:
    """The housekeeping's first round runs as the worker starts: a restart makes it run now."""
    deployment = deploy({"VOXSIG_ATTACHMENT_RETENTION_DAYS": "1"})
    api = deployment.account()
    _, _, conversation = setup_thread(api)
    old_id = with_files(api, conversation["id"], "old")
    new_id = with_files(api, conversation["id"], "new")
    url, data_dir = deployment.database_url, deployment.server.data_dir
    old, new = keys_of_message(url, old_id), keys_of_message(url, new_id)
    age_attachments(url, old_id, days=2)

    deployment.server.restart()
    wait_until(
        lambda: keys_of_message(url, old_id) == [] and on_disk(data_dir, old) == [],
        20,
        lambda: f"still there: rows {keys_of_message(url, old_id)}, files {on_disk(data_dir, old)}",
    )
    assert on_disk(data_dir, new) == new
    assert keys_of_message(url, new_id) == new
