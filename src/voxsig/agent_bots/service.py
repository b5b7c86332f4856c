"""Agent bots of an account: create, change, delete, their token, the inbox each answers, and
their endpoint (a `webhooks` row of kind `agent_bot`, made and kept in step with `outgoing_url`
as an inbox's callback is with its `webhook_url`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.agent_bots import handover
from voxsig.errors import Invalid, NotFound
from voxsig.events.names import AGENT_BOT
from voxsig.kit.tokens import digest, new_token
from voxsig.models import AgentBot, Inbox, Webhook
from voxsig.models.webhook import BOT_ENDPOINT, CHATWOOT_FORMAT, SYMMETRIC, Signing
from voxsig.outbox.endpoints import forget_subscribers
from voxsig.outbox.signing import new_secret
from voxsig.tenancy import owned
from voxsig.webhooks.service import Limits, check_target, update_webhook

# What the bot's own columns take from a body; the rest belongs to its endpoint.
BOT_COLUMNS = ("name", "description", "avatar_url", "bot_type", "bot_config")
ENDPOINT_FIELDS = ("payload_format", "signing", "enabled", "auto_recover", "max_in_flight")


async def list_bots(session: AsyncSession, account_id: int) -> list[AgentBot]:
    rows = await session.scalars(
        select(AgentBot).where(AgentBot.account_id == account_id).order_by(AgentBot.id)
    )
    return list(rows)


async def get_bot(session: AsyncSession, account_id: int, bot_id: int) -> AgentBot:
    try:
        return await owned(session, AgentBot, account_id, bot_id)
    except NotFound:
        raise NotFound(f"No agent bot {bot_id} in this account", field="agent_bot_id") from None


async def endpoint_of(session: AsyncSession, bot: AgentBot) -> Webhook | None:
    return await session.scalar(select(Webhook).where(Webhook.agent_bot_id == bot.id))


async def bot_endpoint(session: AsyncSession, bot: AgentBot) -> Webhook:
    """The bot's endpoint; 404 when it has no outgoing_url."""
    endpoint = await endpoint_of(session, bot)
    if endpoint is None:
        raise NotFound(
            f"Agent bot {bot.id} is called nowhere: set its outgoing_url first",
            field="agent_bot_id",
        )
    return endpoint


async def inboxes_of(session: AsyncSession, bot: AgentBot) -> list[Inbox]:
    rows = await session.scalars(
        select(Inbox).where(Inbox.agent_bot_id == bot.id).order_by(Inbox.id)
    )
    return list(rows)


async def create_bot(
    session: AsyncSession, account_id: int, fields: dict[str, Any], limits: Limits
) -> AgentBot:
    token = new_token()
    bot = AgentBot(
        account_id=account_id,
        access_token=token,
        token_digest=digest(token),
        **{k: v for k, v in fields.items() if k in BOT_COLUMNS and v is not None},
    )
    session.add(bot)
    await session.flush()
    await _set_endpoint(session, bot, fields, limits)
    return bot


async def update_bot(
    session: AsyncSession, bot: AgentBot, fields: dict[str, Any], limits: Limits
) -> datetime | None:
    """Returns, when the change re-enabled its endpoint, the moment it missed events from."""
    for key in BOT_COLUMNS:
        if fields.get(key) is not None:
            setattr(bot, key, fields[key])
    missed_since = await _set_endpoint(session, bot, fields, limits)
    await session.flush()
    return missed_since


async def _set_endpoint(
    session: AsyncSession, bot: AgentBot, fields: dict[str, Any], limits: Limits
) -> datetime | None:
    """Points the bot's endpoint at `outgoing_url` (SSRF-checked, 422 naming it), making it on
    first use; "" removes it with its log. A changed URL keeps its secret, settings and log.
    The endpoint's own settings are an account webhook's (update_webhook): when they re-enable
    it, the moment from which it missed events is returned, as for a webhook."""
    endpoint = await endpoint_of(session, bot)
    url = fields.get("outgoing_url")
    settings = {k: fields[k] for k in ENDPOINT_FIELDS if k in fields}
    if url == "" or (endpoint is None and url is None):
        if endpoint is not None:
            await session.delete(endpoint)
            await session.flush()
            await stopped(session, bot, f"{bot.name} is called nowhere now")
        _refuse_endpoint_fields(settings)
        return None
    if url is not None:
        url = await check_target(url, limits.allowed, field="outgoing_url")
    if endpoint is None:
        assert url is not None
        endpoint = _new_endpoint(bot, url, settings.pop("signing", None) or SYMMETRIC)
        session.add(endpoint)
        await session.flush()
    elif url is not None:
        endpoint.url = url
    endpoint.name = bot.name
    was_enabled = endpoint.enabled
    missed_since = await update_webhook(session, endpoint, settings, limits)
    if was_enabled and not endpoint.enabled:
        await stopped(session, bot, f"{bot.name} was disabled")
    return missed_since


async def endpoint_disabled(session: AsyncSession, endpoint: Webhook) -> None:
    """An endpoint was disabled from its own pages: a bot's hands over what it holds."""
    bot = await session.get(AgentBot, endpoint.agent_bot_id) if endpoint.agent_bot_id else None
    if bot is not None:
        await stopped(session, bot, f"{bot.name} was disabled")


async def stopped(session: AsyncSession, bot: AgentBot, why: str) -> None:
    """The bot is called no more (disabled, or no outgoing_url): what it holds pending goes to
    people, and new conversations of its inboxes start open (creation.first_status)."""
    for inbox in await inboxes_of(session, bot):
        await handover.inbox_to_people(session, inbox, why)


def _new_endpoint(bot: AgentBot, url: str, signing: Signing) -> Webhook:
    return Webhook(
        account_id=bot.account_id,
        agent_bot_id=bot.id,
        kind=BOT_ENDPOINT,
        name=bot.name,
        url=url,
        subscriptions=list(AGENT_BOT),
        secret=new_secret(signing),
        signing=signing,
        payload_format=CHATWOOT_FORMAT,
    )


def _refuse_endpoint_fields(settings: dict[str, Any]) -> None:
    for name, value in settings.items():
        if value is not None:
            raise Invalid(
                f"A bot without an outgoing_url receives nothing: set it to use {name}",
                field=name,
            )


async def reset_token(session: AsyncSession, bot: AgentBot) -> None:
    """A new access token; the old one stops working at once."""
    bot.access_token = new_token()
    bot.token_digest = digest(bot.access_token)
    await session.flush()


async def delete_bot(session: AsyncSession, bot: AgentBot) -> None:
    """Its inboxes' pending conversations go to people first; its endpoint and log go with
    it; its messages stay, without a sender (Chatwoot refuses to delete a bot that wrote)."""
    for inbox in await inboxes_of(session, bot):
        await set_inbox_bot(session, inbox, None)
    await session.delete(bot)
    await session.flush()


async def set_inbox_bot(session: AsyncSession, inbox: Inbox, bot: AgentBot | None) -> None:
    """The bot that answers the inbox first (None: no bot). A bot taken away hands the
    inbox's pending conversations to people."""
    previous = inbox.agent_bot_id
    if previous == (bot.id if bot else None):
        return
    if previous is not None:
        old = await session.get(AgentBot, previous)
        await handover.inbox_to_people(
            session, inbox, f"{old.name if old else 'The bot'} no longer answers this inbox"
        )
    inbox.agent_bot_id = bot.id if bot else None
    await session.flush()
    forget_subscribers(session)


async def bot_of_inbox(session: AsyncSession, inbox: Inbox) -> AgentBot | None:
    return await session.get(AgentBot, inbox.agent_bot_id) if inbox.agent_bot_id else None


async def bot_for_token(session: AsyncSession, token: str) -> AgentBot | None:
    return await session.scalar(select(AgentBot).where(AgentBot.token_digest == digest(token)))
