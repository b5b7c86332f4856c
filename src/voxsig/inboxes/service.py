"""Creating, changing and finding inboxes, always within one account."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.files.lifecycle import forget_inbox_files
from voxsig.inboxes import callbacks
from voxsig.kit.tokens import new_token
from voxsig.models import Inbox
from voxsig.models.inbox import API, WEB_WIDGET
from voxsig.tenancy import owned
from voxsig.webhooks.service import Limits

CHANNEL_TYPES = {"web_widget": WEB_WIDGET, "api": API}


async def list_inboxes(session: AsyncSession, account_id: int) -> list[Inbox]:
    rows = await session.scalars(
        select(Inbox).where(Inbox.account_id == account_id).order_by(Inbox.id)
    )
    return list(rows)


async def get_inbox(session: AsyncSession, account_id: int, inbox_id: int) -> Inbox:
    return await owned(session, Inbox, account_id, inbox_id)


async def create_inbox(
    session: AsyncSession,
    account_id: int,
    name: str,
    channel: str,
    fields: dict[str, Any],
    limits: Limits,
) -> Inbox:
    channel_type = CHANNEL_TYPES[channel]
    inbox = Inbox(
        account_id=account_id,
        name=name,
        channel_type=channel_type,
        hmac_token=new_token(24),
        website_token=new_token(18) if channel_type == WEB_WIDGET else None,
        inbox_identifier=new_token(18) if channel_type == API else None,
    )
    session.add(inbox)
    await update_inbox(session, inbox, fields, limits)
    return inbox


async def update_inbox(
    session: AsyncSession, inbox: Inbox, fields: dict[str, Any], limits: Limits
) -> None:
    """Applies the fields given; `webhook_url` points the inbox's callback (callbacks.py)."""
    for key, value in fields.items():
        if value is not None and hasattr(inbox, key) and key not in ("type", "webhook_url"):
            setattr(inbox, key, value)
    await session.flush()
    if fields.get("webhook_url") is not None:
        await callbacks.set_url(session, inbox, fields["webhook_url"], limits)
        await session.flush()


async def delete_inbox(session: AsyncSession, inbox: Inbox) -> None:
    await forget_inbox_files(session, inbox.id)  # its messages' files go after the commit
    await session.delete(inbox)
    await session.flush()
