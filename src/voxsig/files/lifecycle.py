"""Files leave the store with the rows that own them. Deleting a contact, an inbox or an account
cascades (in the database) to their conversations, messages and attachment rows; the objects in
the store are not the database's to cascade. So, in the deleting transaction, `forget_*` collects
the keys of the attachments the cascade will remove, under `session.info[DOOMED]`; once that
transaction has committed, `deleting_after_commit`'s hook removes those objects. A rolled-back
delete removes nothing (its session, and its list, are simply dropped). A store that fails is
logged: the delete already happened for the user, the object is an orphan said in the log.

Soft-deleting a message keeps its files (a replayed webhook still links to them)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.files.storage import Storage
from voxsig.models import Attachment, ContactInbox, Conversation, Message

log = logging.getLogger("voxsig.files")
# The session.info key this module owns: the store keys to delete once the session commits.
DOOMED = "voxsig.files.doomed_keys"
Hook = Callable[[dict[str, Any]], None]


def keys_of(rows: Iterable[Sequence[str | None]]) -> list[str]:
    """Each attachment's file and, for an image, its thumbnail."""
    return [key for pair in rows for key in pair if key]


async def _forget_where(session: AsyncSession, condition: ColumnElement[bool]) -> int:
    rows = await session.execute(
        select(Attachment.storage_key, Attachment.thumb_key)
        .join(Message, Message.id == Attachment.message_id)
        .where(condition)
    )
    keys = keys_of(rows.all())
    session.info.setdefault(DOOMED, []).extend(keys)
    return len(keys)


async def forget_contact_files(session: AsyncSession, contact_id: int) -> int:
    """Before deleting the contact: its conversations (by contact, or through its contact
    inboxes, both cascade) and so their messages' files go with it."""
    own_inboxes = select(ContactInbox.id).where(ContactInbox.contact_id == contact_id)
    conversations = select(Conversation.id).where(
        or_(Conversation.contact_id == contact_id, Conversation.contact_inbox_id.in_(own_inboxes))
    )
    return await _forget_where(session, Message.conversation_id.in_(conversations))


async def forget_inbox_files(session: AsyncSession, inbox_id: int) -> int:
    """Before deleting the inbox: its messages and its conversations' go with it."""
    conversations = select(Conversation.id).where(Conversation.inbox_id == inbox_id)
    return await _forget_where(
        session, or_(Message.inbox_id == inbox_id, Message.conversation_id.in_(conversations))
    )


async def forget_account_files(session: AsyncSession, account_id: int) -> int:
    """Before deleting the account: every file of its messages."""
    return await _forget_where(session, Attachment.account_id == account_id)


async def delete_files(storage: Storage, keys: Iterable[str], why: str) -> int:
    """Deletes each object; returns how many deletes failed (each logged, none raised)."""
    failed = 0
    for key in keys:
        try:
            await storage.delete(key)
        except Exception:  # any store failure: the object stays an orphan, said in the log
            failed += 1
            log.warning("could not delete the stored file %s (%s)", key, why, exc_info=True)
    return failed


class AfterCommit:
    """The Database.on_commit hook that deletes what a committed transaction doomed. The hook
    is synchronous (it runs as `transaction()` ends), so each deletion is a task of its own;
    `drain` waits for those still running, so a shutdown does not cut them off."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._tasks: set[asyncio.Task[int]] = set()

    def __call__(self, info: dict[str, Any]) -> None:
        keys = info.pop(DOOMED, None)
        if not keys:
            return
        task = asyncio.get_running_loop().create_task(
            delete_files(self.storage, keys, "its contact, inbox or account was deleted")
        )
        self._tasks.add(task)  # held, so the task is not garbage-collected mid-way
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
