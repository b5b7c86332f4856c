"""Routes: /api/v1/accounts/{account_id}/inboxes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from voxsig.agent_bots import service as bots
from voxsig.agent_bots.schemas import InboxAgentBot, SetAgentBot
from voxsig.deps import AdminCtx, Ctx
from voxsig.inboxes import callbacks, service
from voxsig.inboxes.schemas import (
    CallbackUpdate,
    InboxCreate,
    InboxList,
    InboxObject,
    InboxUpdate,
    inbox_api_json,
)
from voxsig.kit.clock import iso
from voxsig.kit.schema import MAX_PAGE, Id, one_of
from voxsig.models import Webhook
from voxsig.models.webhook import DELIVERY_STATUSES
from voxsig.openapi import GUARDED, errors, ok, ok_empty
from voxsig.outbox import replay
from voxsig.outbox.endpoints import of_webhook
from voxsig.views.agent_bots import inbox_bot_json
from voxsig.views.webhooks import delivery_json
from voxsig.webhooks import answers, deliveries
from voxsig.webhooks import service as endpoints
from voxsig.webhooks.schemas import (
    DeliveryList,
    DeliveryRedelivered,
    DeliveryShown,
    Recover,
    Recovered,
    WebhookEnvelope,
)
from voxsig.webhooks.service import Limits

router = APIRouter(
    prefix="/api/v1/accounts/{account_id}/inboxes",
    tags=["inboxes"],
    responses={**GUARDED, **errors(401, 404)},
)


def _limits(request: Request) -> Limits:
    return Limits.of(request.app.state.settings)


def _base_url(request: Request) -> str:
    return str(request.base_url)


@router.get("", responses=ok(InboxList))
async def list_inboxes(ctx: Ctx, request: Request) -> dict[str, Any]:
    inboxes = await service.list_inboxes(ctx.session, ctx.account.id)
    return {
        "payload": [
            inbox_api_json(i, _base_url(request), show_secrets=ctx.is_admin) for i in inboxes
        ]
    }


@router.get("/{inbox_id}", responses=ok(InboxObject))
async def get_inbox(ctx: Ctx, inbox_id: Id, request: Request) -> dict[str, Any]:
    inbox = await service.get_inbox(ctx.session, ctx.account.id, inbox_id)
    return inbox_api_json(inbox, _base_url(request), show_secrets=ctx.is_admin)


@router.post("", responses={**ok(InboxObject), **errors(403, 422)})
async def create_inbox(ctx: AdminCtx, body: InboxCreate, request: Request) -> dict[str, Any]:
    fields = {
        **body.channel.model_dump(exclude={"type"}, exclude_none=True),
        **body.model_dump(exclude={"name", "channel"}, exclude_none=True),
    }
    inbox = await service.create_inbox(
        ctx.session, ctx.account.id, body.name, body.channel.type, fields, _limits(request)
    )
    return inbox_api_json(inbox, _base_url(request), show_secrets=True)


@router.patch("/{inbox_id}", responses={**ok(InboxObject), **errors(403, 422)})
async def update_inbox(
    ctx: AdminCtx, inbox_id: Id, body: InboxUpdate, request: Request
) -> dict[str, Any]:
    inbox = await service.get_inbox(ctx.session, ctx.account.id, inbox_id)
    await service.update_inbox(ctx.session, inbox, body.changes(), _limits(request))
    return inbox_api_json(inbox, _base_url(request), show_secrets=True)


@router.delete(
    "/{inbox_id}",
    response_class=Response,
    responses={**ok_empty("Deleted; the body is empty"), **errors(403)},
)
async def delete_inbox(ctx: AdminCtx, inbox_id: Id) -> Response:
    inbox = await service.get_inbox(ctx.session, ctx.account.id, inbox_id)
    await service.delete_inbox(ctx.session, inbox)
    return Response(status_code=200)


# -- the inbox's agent bot -----------------------------------------------------------------------


@router.get("/{inbox_id}/agent_bot", responses=ok(InboxAgentBot))
async def get_inbox_agent_bot(ctx: Ctx, inbox_id: Id) -> dict[str, Any]:
    """The bot that answers the inbox first; `{"agent_bot": {}}` when none, as Chatwoot."""
    inbox = await service.get_inbox(ctx.session, ctx.account.id, inbox_id)
    return inbox_bot_json(await bots.bot_of_inbox(ctx.session, inbox))


@router.post(
    "/{inbox_id}/set_agent_bot",
    response_class=Response,
    responses={**ok_empty("Set; the body is empty"), **errors(403, 422)},
)
async def set_agent_bot(ctx: AdminCtx, inbox_id: Id, body: SetAgentBot) -> Response:
    """`{"agent_bot": id}` attaches a bot of the account (one per inbox: it replaces the one
    before); null removes it. A bot taken away hands its pending conversations to people."""
    inbox = await service.get_inbox(ctx.session, ctx.account.id, inbox_id)
    bot = None
    if body.agent_bot is not None:
        bot = await bots.get_bot(ctx.session, ctx.account.id, body.agent_bot)
    await bots.set_inbox_bot(ctx.session, inbox, bot)
    return Response(status_code=200)


# -- the inbox's callback (an API inbox's webhook_url): an endpoint like an account webhook ----


async def _callback(ctx: AdminCtx, inbox_id: int) -> Webhook:
    inbox = await service.get_inbox(ctx.session, ctx.account.id, inbox_id)
    return await callbacks.callback_of(ctx.session, inbox)


async def _callback_answer(ctx: AdminCtx, request: Request, endpoint: Webhook) -> dict[str, Any]:
    cap: int = request.app.state.settings.webhook_max_per_endpoint
    return {"payload": {"webhook": await answers.endpoint_json(ctx.session, endpoint, cap)}}


@router.get("/{inbox_id}/callback", responses={**ok(WebhookEnvelope), **errors(403)})
async def get_callback(ctx: AdminCtx, inbox_id: Id, request: Request) -> dict[str, Any]:
    """The endpoint that the inbox's `webhook_url` is: its secret, format, health, backlog."""
    return await _callback_answer(ctx, request, await _callback(ctx, inbox_id))


@router.patch("/{inbox_id}/callback", responses={**ok(WebhookEnvelope), **errors(403, 422)})
async def update_callback(
    ctx: AdminCtx, inbox_id: Id, body: CallbackUpdate, request: Request
) -> dict[str, Any]:
    """Its URL is the inbox's `webhook_url`; the rest is set here, as for a webhook."""
    endpoint = await _callback(ctx, inbox_id)
    missed_since = await endpoints.update_webhook(
        ctx.session, endpoint, body.model_dump(exclude_unset=True), _limits(request)
    )
    answer = await _callback_answer(ctx, request, endpoint)
    if missed_since is not None:
        answer["payload"]["webhook"]["recover_since"] = iso(missed_since)
    return answer


@router.post("/{inbox_id}/callback/rotate_secret", responses={**ok(WebhookEnvelope), **errors(403)})
async def rotate_callback_secret(ctx: AdminCtx, inbox_id: Id, request: Request) -> dict[str, Any]:
    """A new secret; the old one keeps signing beside it for 24 hours."""
    endpoint = await _callback(ctx, inbox_id)
    deliveries.rotate_secret(endpoint)
    await ctx.session.flush()
    return await _callback_answer(ctx, request, endpoint)


@router.get("/{inbox_id}/deliveries", responses={**ok(DeliveryList), **errors(403, 422)})
async def list_callback_deliveries(
    ctx: AdminCtx,
    inbox_id: Id,
    status: Annotated[str | None, Query(pattern=one_of(DELIVERY_STATUSES))] = None,
    event: Annotated[str | None, Query(max_length=64)] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> dict[str, Any]:
    """The callback's delivery log, newest first."""
    endpoint = await _callback(ctx, inbox_id)
    return await answers.delivery_page(ctx.session, endpoint, status, event, page)


@router.get("/{inbox_id}/deliveries/{delivery_id}", responses={**ok(DeliveryShown), **errors(403)})
async def get_callback_delivery(ctx: AdminCtx, inbox_id: Id, delivery_id: Id) -> dict[str, Any]:
    endpoint = await _callback(ctx, inbox_id)
    return await answers.delivery_shown(ctx.session, endpoint, delivery_id)


@router.post(
    "/{inbox_id}/deliveries/{delivery_id}/redeliver",
    responses={**ok(DeliveryRedelivered), **errors(403, 422)},
)
async def redeliver_to_callback(ctx: AdminCtx, inbox_id: Id, delivery_id: Id) -> dict[str, Any]:
    """The same bytes with the same webhook-id, again."""
    endpoint = await _callback(ctx, inbox_id)
    delivery, event = await deliveries.get_delivery(ctx.session, endpoint, delivery_id)
    await replay.redeliver(ctx.session, of_webhook(endpoint), delivery)
    return {"payload": delivery_json(delivery, event)}


@router.post("/{inbox_id}/recover", responses={**ok(Recovered), **errors(403, 422)})
async def recover_callback(ctx: AdminCtx, inbox_id: Id, body: Recover) -> dict[str, Any]:
    """Sends again what failed since `since`, and the events it never got since then."""
    endpoint = await _callback(ctx, inbox_id)
    return {"payload": await replay.recover(ctx.session, of_webhook(endpoint), body.since)}
