"""Routes: /api/v1/accounts/{account_id}/agent_bots (Chatwoot's paths and answers), and the
bot's endpoint: its delivery log, replay, recovery and secret, as an inbox callback's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from voxsig.agent_bots import service
from voxsig.agent_bots.schemas import AgentBotList, AgentBotObject, BotCreate, BotUpdate
from voxsig.deps import AdminCtx
from voxsig.kit.clock import iso
from voxsig.kit.schema import MAX_PAGE, Id, one_of
from voxsig.models import AgentBot, Webhook
from voxsig.models.webhook import DELIVERY_STATUSES
from voxsig.openapi import GUARDED, errors, ok, ok_empty
from voxsig.outbox import replay
from voxsig.outbox.endpoints import of_webhook
from voxsig.views.agent_bots import agent_bot_json
from voxsig.views.webhooks import delivery_json
from voxsig.webhooks import answers, deliveries
from voxsig.webhooks.schemas import (
    DeliveryList,
    DeliveryRedelivered,
    DeliveryShown,
    Recover,
    Recovered,
)
from voxsig.webhooks.service import Limits

router = APIRouter(
    prefix="/api/v1/accounts/{account_id}/agent_bots",
    tags=["agent bots"],
    responses={**GUARDED, **errors(401, 403, 404)},
)


def _limits(request: Request) -> Limits:
    return Limits.of(request.app.state.settings)


async def _answer(ctx: AdminCtx, request: Request, bot: AgentBot) -> dict[str, Any]:
    endpoint = await service.endpoint_of(ctx.session, bot)
    shown = None
    if endpoint is not None:
        cap: int = request.app.state.settings.webhook_max_per_endpoint
        shown = await answers.endpoint_json(ctx.session, endpoint, cap)
    inbox_ids = [i.id for i in await service.inboxes_of(ctx.session, bot)]
    return agent_bot_json(bot, endpoint, shown, inbox_ids)


@router.get("", responses=ok(AgentBotList))
async def list_agent_bots(ctx: AdminCtx, request: Request) -> list[dict[str, Any]]:
    """A bare array, as Chatwoot answers."""
    bots = await service.list_bots(ctx.session, ctx.account.id)
    return [await _answer(ctx, request, bot) for bot in bots]


@router.post("", responses={**ok(AgentBotObject), **errors(422)})
async def create_agent_bot(ctx: AdminCtx, body: BotCreate, request: Request) -> dict[str, Any]:
    bot = await service.create_bot(
        ctx.session, ctx.account.id, body.model_dump(exclude_none=True), _limits(request)
    )
    return await _answer(ctx, request, bot)


@router.get("/{agent_bot_id}", responses=ok(AgentBotObject))
async def get_agent_bot(ctx: AdminCtx, agent_bot_id: Id, request: Request) -> dict[str, Any]:
    bot = await service.get_bot(ctx.session, ctx.account.id, agent_bot_id)
    return await _answer(ctx, request, bot)


@router.patch("/{agent_bot_id}", responses={**ok(AgentBotObject), **errors(422)})
async def update_agent_bot(
    ctx: AdminCtx, agent_bot_id: Id, body: BotUpdate, request: Request
) -> dict[str, Any]:
    """As Chatwoot's; beyond it, the endpoint's settings (`enabled` and the rest, as an account
    webhook's), and `webhook.recover_since` when this re-enabled it."""
    bot = await service.get_bot(ctx.session, ctx.account.id, agent_bot_id)
    missed_since = await service.update_bot(
        ctx.session, bot, body.model_dump(exclude_unset=True), _limits(request)
    )
    answer = await _answer(ctx, request, bot)
    if missed_since is not None and answer["webhook"] is not None:
        answer["webhook"]["recover_since"] = iso(missed_since)
    return answer


@router.delete(
    "/{agent_bot_id}",
    response_class=Response,
    responses=ok_empty("Deleted: its pending conversations went to people; the body is empty"),
)
async def delete_agent_bot(ctx: AdminCtx, agent_bot_id: Id) -> Response:
    bot = await service.get_bot(ctx.session, ctx.account.id, agent_bot_id)
    await service.delete_bot(ctx.session, bot)
    return Response(status_code=200)


@router.post("/{agent_bot_id}/reset_access_token", responses=ok(AgentBotObject))
async def reset_access_token(ctx: AdminCtx, agent_bot_id: Id, request: Request) -> dict[str, Any]:
    """A new token; the old one is refused from now on."""
    bot = await service.get_bot(ctx.session, ctx.account.id, agent_bot_id)
    await service.reset_token(ctx.session, bot)
    return await _answer(ctx, request, bot)


# -- the bot's endpoint (its outgoing_url) -----------------------------------------------------


async def _endpoint_of(ctx: AdminCtx, agent_bot_id: int) -> Webhook:
    bot = await service.get_bot(ctx.session, ctx.account.id, agent_bot_id)
    return await service.bot_endpoint(ctx.session, bot)


@router.post("/{agent_bot_id}/rotate_secret", responses={**ok(AgentBotObject), **errors(422)})
async def rotate_bot_secret(ctx: AdminCtx, agent_bot_id: Id, request: Request) -> dict[str, Any]:
    """A new signing secret; the old one keeps signing beside it for 24 hours."""
    deliveries.rotate_secret(await _endpoint_of(ctx, agent_bot_id))
    bot = await service.get_bot(ctx.session, ctx.account.id, agent_bot_id)
    return await _answer(ctx, request, bot)


@router.get("/{agent_bot_id}/deliveries", responses={**ok(DeliveryList), **errors(422)})
async def list_bot_deliveries(
    ctx: AdminCtx,
    agent_bot_id: Id,
    status: Annotated[str | None, Query(pattern=one_of(DELIVERY_STATUSES))] = None,
    event: Annotated[str | None, Query(max_length=64)] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> dict[str, Any]:
    """The bot's delivery log, newest first."""
    endpoint = await _endpoint_of(ctx, agent_bot_id)
    return await answers.delivery_page(ctx.session, endpoint, status, event, page)


@router.get("/{agent_bot_id}/deliveries/{delivery_id}", responses=ok(DeliveryShown))
async def get_bot_delivery(ctx: AdminCtx, agent_bot_id: Id, delivery_id: Id) -> dict[str, Any]:
    endpoint = await _endpoint_of(ctx, agent_bot_id)
    return await answers.delivery_shown(ctx.session, endpoint, delivery_id)


@router.post(
    "/{agent_bot_id}/deliveries/{delivery_id}/redeliver",
    responses={**ok(DeliveryRedelivered), **errors(422)},
)
async def redeliver_to_bot(ctx: AdminCtx, agent_bot_id: Id, delivery_id: Id) -> dict[str, Any]:
    """The same body and webhook-id again, now."""
    endpoint = await _endpoint_of(ctx, agent_bot_id)
    delivery, event = await deliveries.get_delivery(ctx.session, endpoint, delivery_id)
    await replay.redeliver(ctx.session, of_webhook(endpoint), delivery)
    return {"payload": delivery_json(delivery, event)}


@router.post("/{agent_bot_id}/recover", responses={**ok(Recovered), **errors(422)})
async def recover_bot(ctx: AdminCtx, agent_bot_id: Id, body: Recover) -> dict[str, Any]:
    """Sends again what failed since `since`, and the events it never got since then."""
    endpoint = await _endpoint_of(ctx, agent_bot_id)
    return {"payload": await replay.recover(ctx.session, of_webhook(endpoint), body.since)}
