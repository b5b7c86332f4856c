"""Endpoints: where the outbox delivers, and the one module of it that knows what they are.

An endpoint is a URL with signing secrets that subscribes to some events of an account (or of
one of its inboxes), can be disabled, and has a health (a failure streak). Every kind is a row
of `models.Webhook` (table `webhooks`, named by `Delivery.webhook_id`) with its `kind`: an
account's webhook, an API inbox's callback (inboxes/callbacks.py), or an agent bot's
`outgoing_url` (agent_bots/), which sees the inboxes whose `agent_bot_id` names its bot. The
rest of the outbox names that table only through this module: publishing and recovery see a
`Subscriber`, the claim joins `TABLE` and reads `SENDING` into an `Endpoint` that the worker
signs and sends to, outcomes report health through `healthy` (which tells who came back from a
failure streak), `failing` and `disable`, and a recovery takes the comeback's offer through
`offer_taken`. Every kind shares claims, retries (a bot on its own schedule: policy.py),
signing, the log and replay as they are.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, bindparam, case, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from voxsig.models import Delivery, Event, Inbox, Webhook
from voxsig.models.webhook import ACCOUNT_ENDPOINT, FAILED, VOXSIG_FORMAT

# The table of every kind, for the claim's join (claims.py): its id is `Delivery.webhook_id`.
TABLE = Webhook
# What a claim reads of its endpoint, in `to_send`'s order.
SENDING = (
    Webhook.url,
    Webhook.secret,
    Webhook.previous_secret,
    Webhook.previous_secret_expires_at,
    Webhook.max_in_flight,
    Webhook.kind,
)
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
    payload_format: str = VOXSIG_FORMAT
    agent_bot_id: int | None = None  # a bot's: it sees the inboxes it is attached to


def sees(endpoint: Subscriber) -> ColumnElement[bool]:
    """Which stored events are of the endpoint's inboxes (a recovery queues only those)."""
    if endpoint.agent_bot_id is not None:
        attached = select(Inbox.id).where(Inbox.agent_bot_id == endpoint.agent_bot_id)
        return Event.inbox_id.in_(attached)
    if endpoint.inbox_id is not None:
        return Event.inbox_id == endpoint.inbox_id
    return true()


async def bot_reachable(session: AsyncSession, agent_bot_id: int) -> bool:
    """Whether the bot has an enabled endpoint: only a bot that is called answers first (one
    that is not would leave its conversations pending for ever)."""
    found = await session.scalar(
        select(Webhook.id).where(Webhook.agent_bot_id == agent_bot_id, Webhook.enabled.is_(True))
    )
    return found is not None


def forget_subscribers(session: AsyncSession) -> None:
    """After a change of who subscribes (a bot attached or removed), in this transaction."""
    session.info.pop(SUBSCRIBERS_CACHE, None)


@dataclass(frozen=True)
class Endpoint:
    """An endpoint as sending sees it: where, and the secrets that sign (two during a
    rotation)."""

    id: int
    url: str
    secrets: tuple[str, ...]
    # Its own cap on deliveries in flight at once (per worker); None: the worker's default.
    max_in_flight: int | None = None
    kind: str = ACCOUNT_ENDPOINT  # for the metrics: an account's webhook, an inbox's callback


def of_webhook(webhook: Webhook) -> Subscriber:
    return Subscriber(
        webhook.id,
        webhook.account_id,
        webhook.inbox_id,
        tuple(webhook.subscriptions or ()),
        webhook.enabled,
        webhook.payload_format,
        webhook.agent_bot_id,
    )


# The bot attached to the inbox, if any (null for events of no inbox).
_INBOX_BOT = select(Inbox.agent_bot_id).where(Inbox.id == bindparam("inbox_id")).scalar_subquery()
# Run by every change that could publish: built once.
_SUBSCRIBERS = select(
    Webhook.id,
    Webhook.account_id,
    Webhook.inbox_id,
    Webhook.subscriptions,
    Webhook.enabled,
    Webhook.payload_format,
    Webhook.agent_bot_id,
).where(
    Webhook.account_id == bindparam("account_id"),
    or_(
        and_(
            Webhook.agent_bot_id.is_(None),
            or_(Webhook.inbox_id.is_(None), Webhook.inbox_id == bindparam("inbox_id")),
        ),
        Webhook.agent_bot_id == _INBOX_BOT,
    ),
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
            Subscriber(wid, account, inbox, tuple(subs or ()), enabled, payload_format, bot)
            for wid, account, inbox, subs, enabled, payload_format, bot in rows
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
    max_in_flight: int | None,
    kind: str,
    now: datetime,
) -> Endpoint:
    """The endpoint of a claimed row (`SENDING`): the previous secret signs too until it
    expires."""
    if previous and expires and expires > now:
        return Endpoint(endpoint_id, url, (secret, previous), max_in_flight, kind)
    return Endpoint(endpoint_id, url, (secret,), max_in_flight, kind)


@dataclass(frozen=True)
class Comeback:
    """An endpoint's first success after a failure streak: what failed since `since` (the
    streak's start, or an earlier streak's whose offer was not taken) is offered for recovery,
    or recovered at once when the endpoint says `auto_recover`."""

    endpoint: Subscriber
    since: datetime
    auto_recover: bool


# The offer's start: an offer not yet taken keeps its earlier start (a second streak extends
# it back), else the streak being ended. SET expressions read the row as it was, so these are
# the values before the statement.
_OFFER_SINCE = func.coalesce(Webhook.recovery_offer_since, Webhook.failing_since)
# Something failed for good since then: a streak whose deliveries all got through on a retry
# offers nothing (and an offer whose failures were all sent again one by one goes).
_ANY_FAILED = (
    select(Delivery.id)
    .where(
        Delivery.webhook_id == Webhook.id,
        Delivery.status == FAILED,
        Delivery.updated_at >= _OFFER_SINCE,
    )
    .correlate(Webhook)
    .exists()
)
# Run for every batch with a success: built once. It matches only endpoints in a streak, so a
# healthy endpoint's success writes nothing (and runs no subquery). A disabled endpoint (a send
# in flight when it was disabled) keeps its streak, from which re-enabling offers recovery.
_HEALTHY = (
    update(Webhook)
    .where(
        Webhook.id.in_(bindparam("ids", expanding=True)),
        Webhook.failing_since.is_not(None),
        Webhook.enabled.is_(True),
    )
    .values(
        failing_since=None,
        recovery_offer_since=case((_ANY_FAILED, _OFFER_SINCE), else_=None),
        recovery_offer_at=case(
            (_ANY_FAILED, bindparam("now", type_=Webhook.recovery_offer_at.type)), else_=None
        ),
    )
    .returning(
        Webhook.id,
        Webhook.account_id,
        Webhook.inbox_id,
        Webhook.subscriptions,
        Webhook.enabled,
        Webhook.auto_recover,
        Webhook.recovery_offer_since,
        Webhook.payload_format,
        Webhook.agent_bot_id,
    )
)


async def healthy(
    connection: AsyncConnection, endpoint_ids: Collection[int], now: datetime
) -> list[Comeback]:
    """Ends the failure streak of each endpoint (one statement for all), and returns those
    that came back with something failed meanwhile: that is now offered for recovery."""
    rows = await connection.execute(_HEALTHY, {"ids": list(endpoint_ids), "now": now})
    return [
        Comeback(Subscriber(wid, account, inbox, tuple(subs or ()), enabled, fmt, bot), since, auto)
        for wid, account, inbox, subs, enabled, auto, since, fmt, bot in rows
        if since is not None
    ]


async def offer_taken(session: AsyncSession, endpoint_id: int, since: datetime) -> None:
    """A recovery from `since` covers the endpoint's comeback offer if the offer starts no
    earlier: the offer goes. A later `since` leaves it, as what failed before is still failed."""
    await session.execute(
        update(Webhook)
        .where(Webhook.id == endpoint_id, Webhook.recovery_offer_since >= since)
        .values(recovery_offer_since=None, recovery_offer_at=None)
        # The request's own copy of the row, if it has one, shows the offer gone too.
        .execution_options(synchronize_session="fetch")
    )


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
