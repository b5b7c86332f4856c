"""Agent bots of an account: create, change, delete, their token, the inbox each answers, and
their endpoint (a `webhooks` row of kind `agent_bot`, made and kept in step with `outgoing_url`
as an inbox's callback is with its `webhook_url`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.agent_bots import handover
from voxsig.errors import Invalid, NotFound
from voxsig.events.names import AGENT_BOT
from voxsig.kit.tokens import digest, new_token
from voxsig.models import AgentBot, Inbox, Webhook
from voxsig.models.webhook import BOT_ENDPOINT, CHATWOOT_FORMAT, SYMMETRIC
from voxsig.outbox.endpoints import forget_subscribers
from voxsig.outbox.signing import new_secret
from voxsig.tenancy import owned
from voxsig.webhooks import deliveries
from voxsig.webhooks.service import Limits, check_target

# What the bot's own columns take from a body; the rest belongs to its endpoint.
BOT_COLUMNS = ("name", "description", "avatar_url", "bot_type", "bot_config")
ENDPOINT_FIELDS = ("payload_format", "signing")


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
) -> None:
    for key in BOT_COLUMNS:
        if fields.get(key) is not None:
            setattr(bot, key, fields[key])
    await _set_endpoint(session, bot, fields, limits)
    await session.flush()


async def _set_endpoint(
    session: AsyncSession, bot: AgentBot, fields: dict[str, Any], limits: Limits
) -> None:
    """Points the bot's endpoint at `outgoing_url` (SSRF-checked, 422 naming it), making it on
    first use; "" removes it with its log. A changed URL keeps its secret, settings and log."""
    endpoint = await endpoint_of(session, bot)
    url = fields.get("outgoing_url")
    if url == "":
        if endpoint is not None:
            await session.delete(endpoint)
        _refuse_endpoint_fields(fields)
        return
    if url is not None:
        url = await check_target(url, limits.allowed, field="outgoing_url")
    if endpoint is None:
        if url is None:
            _refuse_endpoint_fields(fields)
            return
        signing = fields.get("signing") or SYMMETRIC
        endpoint = Webhook(
            account_id=bot.account_id,
            agent_bot_id=bot.id,
            kind=BOT_ENDPOINT,
            name=bot.name,
            url=url,
            subscriptions=list(AGENT_BOT),
            secret=new_secret(signing),
            signing=signing,
            payload_format=fields.get("payload_format") or CHATWOOT_FORMAT,
        )
        session.add(endpoint)
        await session.flush()
        return
    if url is not None:
        endpoint.url = url
    endpoint.name = bot.name
    if fields.get("payload_format"):
        endpoint.payload_format = fields["payload_format"]
    if fields.get("signing") and fields["signing"] != endpoint.signing:
        deliveries.rotate_secret(endpoint, fields["signing"])  # the old key signs a while


def _refuse_endpoint_fields(fields: dict[str, Any]) -> None:
    for name in ENDPOINT_FIELDS:
        if fields.get(name) is not None:
            raise Invalid(
                f"A bot without an outgoing_url receives nothing: set it to use {name}", field=name
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
