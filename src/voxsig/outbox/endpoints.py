"""Endpoints: where the outbox delivers, and the one module of it that knows what they are.

An endpoint is a URL with signing secrets that subscribes to some events of an account (or of
one of its inboxes), can be disabled, and has a health (a failure streak). The account webhook
(`models.Webhook`, table `webhooks`, named by `Delivery.webhook_id`) is the only kind today.
The rest of the outbox names that table only through this module: publishing and recovery see
a `Subscriber`, the claim joins `TABLE` and reads `SENDING` into an `Endpoint` that the worker
signs and sends to, outcomes report health through `healthy`, `failing` and `disable`. A
further kind (an API inbox's callback URL, an agent bot) produces the same values here, and
shares claims, retries, signing, the log and replay as they are.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from voxsig.models import Webhook

# The table of the only kind, for the claim's join (claims.py): its id is `Delivery.webhook_id`.
TABLE = Webhook
# What a claim reads of its endpoint, in `to_send`'s order.
SENDING = (Webhook.url, Webhook.secret, Webhook.previous_secret, Webhook.previous_secret_expires_at)
# session.info key: the subscribers of each (account, inbox), read once per transaction.
SUBSCRIBERS_CACHE = "voxsig.outbox.subscribers"
REASON_MAX = 1000  # within the String(1024) of `webhooks.disabled_reason`


@dataclass(frozen=True)
class Subscriber:
    """An endpoint as publishing and recovery see it: whose events, which ones, on or off."""

    id: int
    account_id: int
    inbox_id: int | None  # None: every inbox of the account
    subscriptions: tuple[str, ...]
    enabled: bool


@dataclass(frozen=True)
class Endpoint:
    """An endpoint as sending sees it: where, and the secrets that sign (two during a
    rotation)."""

    id: int
    url: str
    secrets: tuple[str, ...]


def of_webhook(webhook: Webhook) -> Subscriber:
    return Subscriber(
        webhook.id,
        webhook.account_id,
        webhook.inbox_id,
        tuple(webhook.subscriptions or ()),
        webhook.enabled,
    )


# Run by every change that could publish: built once.
_SUBSCRIBERS = select(
    Webhook.id, Webhook.account_id, Webhook.inbox_id, Webhook.subscriptions, Webhook.enabled
).where(
    Webhook.account_id == bindparam("account_id"),
    or_(Webhook.inbox_id.is_(None), Webhook.inbox_id == bindparam("inbox_id")),
)


async def _of_inbox(
    session: AsyncSession, account_id: int, inbox_id: int | None
) -> list[Subscriber]:
    """Endpoints that see this inbox's events, read once per transaction."""
    cache: dict[tuple[int, int | None], list[Subscriber]]
    cache = session.info.setdefault(SUBSCRIBERS_CACHE, {})
    key = (account_id, inbox_id)
    if key not in cache:
        rows = await session.execute(_SUBSCRIBERS, {"account_id": account_id, "inbox_id": inbox_id})
        cache[key] = [
            Subscriber(wid, account, inbox, tuple(subs or ()), enabled)
            for wid, account, inbox, subs, enabled in rows
        ]
    return cache[key]


async def subscribers(
    session: AsyncSession, account_id: int, inbox_id: int | None, name: str
) -> list[Subscriber]:
    """Every endpoint subscribed to `name`, disabled ones included: they get no delivery, but
    the event is kept so that recovering the endpoint can send what it missed."""
    return [e for e in await _of_inbox(session, account_id, inbox_id) if name in e.subscriptions]


def to_send(
    endpoint_id: int,
    url: str,
    secret: str,
    previous: str | None,
    expires: datetime | None,
    now: datetime,
) -> Endpoint:
    """The endpoint of a claimed row (`SENDING`): the previous secret signs too until it
    expires."""
    if previous and expires and expires > now:
        return Endpoint(endpoint_id, url, (secret, previous))
    return Endpoint(endpoint_id, url, (secret,))


_HEALTHY = (
    update(Webhook)
    .where(Webhook.id.in_(bindparam("ids", expanding=True)), Webhook.failing_since.is_not(None))
    .values(failing_since=None)
)


async def healthy(connection: AsyncConnection, endpoint_ids: Collection[int]) -> None:
    """Ends the failure streak of each endpoint (one statement for all)."""
    await connection.execute(_HEALTHY, {"ids": list(endpoint_ids)})


async def failing(session: AsyncSession, endpoint_id: int, now: datetime) -> None:
    """Starts the endpoint's failure streak at `now`, unless one is running."""
    await session.execute(
        update(Webhook)
        .where(Webhook.id == endpoint_id, Webhook.failing_since.is_(None))
        .values(failing_since=now)
    )


async def disable(
    session: AsyncSession,
    endpoint_id: int,
    reason: str,
    now: datetime,
    *,
    failing_by: datetime | None = None,
) -> None:
    """Disables the endpoint if it is enabled (and with `failing_by`, only if its failure
    streak began by then). It keeps its events: recovering it sends what it missed."""
    query = update(Webhook).where(Webhook.id == endpoint_id, Webhook.enabled.is_(True))
    if failing_by is not None:
        query = query.where(Webhook.failing_since <= failing_by)
    await session.execute(
        query.values(
            enabled=False, disabled_at=now, updated_at=now, disabled_reason=reason[:REASON_MAX]
        )
    )
