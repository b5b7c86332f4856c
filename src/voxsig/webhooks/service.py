"""Webhook endpoints of an account: create, change, delete, with their validation."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.config import Settings
from voxsig.errors import Invalid, NotFound
from voxsig.kit.clock import utcnow
from voxsig.models import Inbox, Webhook
from voxsig.models.webhook import ACCOUNT_ENDPOINT, SYMMETRIC
from voxsig.outbox.netguard import IPNetwork, is_allowed, parse_networks
from voxsig.outbox.signing import new_secret
from voxsig.outbox.target import BadURL, parse
from voxsig.tenancy import owned
from voxsig.webhooks import deliveries

RESOLVE_TIMEOUT = 3.0


@dataclass(frozen=True)
class Limits:
    """What the installation allows an endpoint: the private networks it may reach, and how
    many deliveries it may have in flight at once (the worker's whole cap)."""

    allowed: tuple[IPNetwork, ...]
    max_in_flight: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            parse_networks(settings.webhook_allowed_networks), settings.webhook_max_in_flight
        )


def _check_max_in_flight(fields: dict[str, Any], limits: Limits) -> None:
    cap = fields.get("max_in_flight")
    if cap is not None and cap > limits.max_in_flight:
        raise Invalid(
            f"max_in_flight is at most {limits.max_in_flight}, the worker's cap in all "
            "(VOXSIG_WEBHOOK_MAX_IN_FLIGHT)",
            field="max_in_flight",
        )


async def list_webhooks(session: AsyncSession, account_id: int) -> list[Webhook]:
    """The account's webhooks (an inbox's callback is the inbox's, not among them)."""
    rows = await session.scalars(
        select(Webhook)
        .where(Webhook.account_id == account_id, Webhook.kind == ACCOUNT_ENDPOINT)
        .order_by(Webhook.id)
    )
    return list(rows)


async def get_webhook(session: AsyncSession, account_id: int, webhook_id: int) -> Webhook:
    webhook = await owned(session, Webhook, account_id, webhook_id)
    if webhook.kind != ACCOUNT_ENDPOINT:
        raise NotFound(f"No webhook {webhook_id} in this account", field="webhook_id")
    return webhook


async def inbox_of(session: AsyncSession, webhook: Webhook) -> Inbox | None:
    return await session.get(Inbox, webhook.inbox_id) if webhook.inbox_id else None


async def get_endpoint(session: AsyncSession, account_id: int, endpoint_id: int) -> Webhook:
    """An endpoint of any kind (a webhook, an inbox's callback): for what all kinds share,
    their delivery log, replay, enabling and secret."""
    return await owned(session, Webhook, account_id, endpoint_id)


async def check_target(url: str, allowed: tuple[IPNetwork, ...], field: str = "url") -> str:
    """The URL normalised as the HTTP client will see it (target.parse), refused (422, `url`)
    when its host is or resolves to a forbidden address. A name that does not resolve yet is
    accepted: every send vets the addresses again (transport.py), as it must anyway since DNS
    answers change."""
    try:
        target = parse(url)
    except BadURL as exc:
        raise Invalid(f"{field} {exc}", field=field) from exc
    if target.ip is not None:
        addresses = [str(target.ip)]
    else:
        try:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(
                    # ASCII already: bytes keep Python's IDNA 2003 codec out of it.
                    target.host.encode("ascii"),
                    None,
                    type=socket.SOCK_STREAM,
                ),
                RESOLVE_TIMEOUT,
            )
        except (OSError, TimeoutError, UnicodeError):
            return target.text
        addresses = [str(info[4][0]) for info in infos]
    if addresses and not any(is_allowed(a, allowed) for a in addresses):
        raise Invalid(
            f"{target.host} points to {addresses[0]}, a private or reserved address that "
            "webhooks may not reach (an operator can allow it with "
            "VOXSIG_WEBHOOK_ALLOWED_NETWORKS)",
            field=field,
        )
    return target.text


async def _check_unique_url(
    session: AsyncSession, account_id: int, url: str, webhook_id: int | None = None
) -> None:
    query = select(Webhook.id).where(
        Webhook.account_id == account_id, Webhook.url == url, Webhook.kind == ACCOUNT_ENDPOINT
    )
    if webhook_id is not None:
        query = query.where(Webhook.id != webhook_id)
    if await session.scalar(query):
        raise Invalid("This account already has a webhook with this URL", field="url")


async def _check_inbox(session: AsyncSession, account_id: int, inbox_id: int | None) -> None:
    if inbox_id is None:
        return
    found = await session.scalar(
        select(Inbox.id).where(Inbox.account_id == account_id, Inbox.id == inbox_id)
    )
    if found is None:
        raise Invalid(f"No inbox {inbox_id} in this account", field="inbox_id")


async def create_webhook(
    session: AsyncSession, account_id: int, fields: dict[str, Any], limits: Limits
) -> Webhook:
    _check_max_in_flight(fields, limits)
    fields = {**fields, "url": await check_target(fields["url"], limits.allowed)}
    await _check_unique_url(session, account_id, fields["url"])
    await _check_inbox(session, account_id, fields.get("inbox_id"))
    secret = new_secret(fields.get("signing", SYMMETRIC))
    webhook = Webhook(account_id=account_id, secret=secret, **fields)
    session.add(webhook)
    await session.flush()
    return webhook


async def update_webhook(
    session: AsyncSession, webhook: Webhook, fields: dict[str, Any], limits: Limits
) -> datetime | None:
    """Applies the changes; when they re-enable a disabled endpoint, returns the moment it was
    disabled (or its failure streak began, or an earlier comeback offer not taken starts),
    from which `recover` can send what it missed. `recovery_offer` (only ever null) dismisses
    the comeback offer; `max_in_flight: null` goes back to the default cap."""
    _check_max_in_flight(fields, limits)
    if "recovery_offer" in fields:
        fields = {k: v for k, v in fields.items() if k != "recovery_offer"}
        dismiss_offer(webhook)
    if fields.get("url"):
        fields = {**fields, "url": await check_target(fields["url"], limits.allowed)}
        await _check_unique_url(session, webhook.account_id, fields["url"], webhook.id)
    if "inbox_id" in fields:
        await _check_inbox(session, webhook.account_id, fields["inbox_id"])
    signing = fields.get("signing")
    fields = {k: v for k, v in fields.items() if k != "signing"}
    if signing is not None and signing != webhook.signing:
        # A switch is a rotation to a key of the new kind: the old key keeps signing.
        deliveries.rotate_secret(webhook, signing)
    missed_since = None
    if fields.get("enabled") and not webhook.enabled:
        # What failed during the streak that led to the disable was missed too, and so was
        # what an offer not taken still holds.
        moments = [
            m
            for m in (webhook.failing_since, webhook.disabled_at, webhook.recovery_offer_since)
            if m is not None
        ]
        missed_since = min(moments) if moments else None
    if fields.get("enabled") is False and webhook.enabled:
        webhook.disabled_at = utcnow()
        webhook.disabled_reason = "Disabled by an administrator"
    for key, value in fields.items():
        if value is not None or key in NULLABLE:
            setattr(webhook, key, value)
    if missed_since is not None:
        webhook.disabled_reason = None
        webhook.disabled_at = None
        webhook.failing_since = None
    await session.flush()
    return missed_since


# Fields that null sets (to every inbox; to the default cap) rather than leaves alone.
NULLABLE = ("inbox_id", "max_in_flight")


def dismiss_offer(webhook: Webhook) -> None:
    """Drops the comeback recovery offer; what failed stays failed (and in the log)."""
    webhook.recovery_offer_since = None
    webhook.recovery_offer_at = None


async def delete_webhook(session: AsyncSession, webhook: Webhook) -> None:
    await session.delete(webhook)
    await session.flush()
