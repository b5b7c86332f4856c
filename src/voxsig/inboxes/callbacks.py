"""An API inbox's callback: its `webhook_url` as an outbox endpoint of kind `inbox`.

Chatwoot calls an API channel's webhook_url with every event of the inbox; here that URL is an
endpoint like an account webhook (same table, claims, retries, signing, log, replay and
recovery), subscribed to `events.names.INBOX_CALLBACK`, in Chatwoot's payload format by default,
with a secret of its own. `sync` keeps it matching the inbox's `webhook_url`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.errors import NotFound
from voxsig.events.names import INBOX_CALLBACK
from voxsig.models import Inbox, Webhook
from voxsig.models.inbox import API
from voxsig.models.webhook import CHATWOOT_FORMAT, INBOX_ENDPOINT
from voxsig.outbox.signing import new_secret
from voxsig.webhooks.service import Limits, check_target


async def of_inbox(session: AsyncSession, inbox: Inbox) -> Webhook | None:
    return await session.scalar(
        select(Webhook).where(Webhook.inbox_id == inbox.id, Webhook.kind == INBOX_ENDPOINT)
    )


async def callback_of(session: AsyncSession, inbox: Inbox) -> Webhook:
    """The inbox's callback endpoint; 404 when it has none."""
    endpoint = await of_inbox(session, inbox)
    if endpoint is None:
        raise NotFound(
            f"Inbox {inbox.id} has no callback: set its webhook_url first", field="inbox_id"
        )
    return endpoint


async def set_url(session: AsyncSession, inbox: Inbox, url: str, limits: Limits) -> None:
    """Points the inbox's callback at `url` (SSRF-checked, 422 naming `webhook_url`), making
    the endpoint on first use; "" removes it, with its delivery log. A changed URL keeps the
    endpoint: its secret, settings and log."""
    if inbox.channel_type != API:
        return  # only API inboxes call back (a widget inbox ignores the field, as in Chatwoot)
    if url:
        url = await check_target(url, limits.allowed, field="webhook_url")
    inbox.webhook_url = url
    endpoint = await of_inbox(session, inbox)
    if not url:
        if endpoint is not None:
            await session.delete(endpoint)
        return
    if endpoint is None:
        session.add(
            Webhook(
                account_id=inbox.account_id,
                inbox_id=inbox.id,
                kind=INBOX_ENDPOINT,
                url=url,
                subscriptions=list(INBOX_CALLBACK),
                secret=new_secret(),
                payload_format=CHATWOOT_FORMAT,
            )
        )
    else:
        endpoint.url = url
        endpoint.subscriptions = list(INBOX_CALLBACK)
