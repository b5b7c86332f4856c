"""Routes: /api/v1/accounts/{account_id}/webhooks (administrators only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response

from voxsig.deps import AdminCtx
from voxsig.kit.clock import iso
from voxsig.kit.schema import MAX_PAGE, Id, one_of
from voxsig.models import Webhook
from voxsig.models.webhook import DELIVERY_STATUSES
from voxsig.openapi import GUARDED, errors, ok, ok_empty
from voxsig.outbox import replay
from voxsig.outbox.endpoints import of_webhook
from voxsig.views.webhooks import delivery_json
from voxsig.webhooks import answers, deliveries, service
from voxsig.webhooks.schemas import (
    DeliveryList,
    DeliveryRedelivered,
    DeliveryShown,
    Recover,
    Recovered,
    WebhookCreate,
    WebhookEnvelope,
    WebhookList,
    WebhookUpdate,
    unwrap,
)

router = APIRouter(
    prefix="/api/v1/accounts/{account_id}/webhooks",
    tags=["webhooks"],
    responses={**GUARDED, **errors(401, 403, 404)},
)

RawBody = Annotated[dict[str, Any], Body()]


def _limits(request: Request) -> service.Limits:
    return service.Limits.of(request.app.state.settings)


def _default_cap(request: Request) -> int:
    cap: int = request.app.state.settings.webhook_max_per_endpoint
    return cap


async def _answer(ctx: AdminCtx, request: Request, webhook: Webhook) -> dict[str, Any]:
    return await answers.endpoint_json(ctx.session, webhook, _default_cap(request))


@router.get("", responses=ok(WebhookList))
async def list_webhooks(ctx: AdminCtx, request: Request) -> dict[str, Any]:
    webhooks = await service.list_webhooks(ctx.session, ctx.account.id)
    found = await answers.endpoints_json(ctx.session, webhooks, _default_cap(request))
    return {"payload": {"webhooks": found}}


@router.post("", responses={**ok(WebhookEnvelope), **errors(422)})
async def create_webhook(ctx: AdminCtx, body: RawBody, request: Request) -> dict[str, Any]:
    fields = WebhookCreate.model_validate(unwrap(body))
    webhook = await service.create_webhook(
        ctx.session, ctx.account.id, fields.model_dump(), _limits(request)
    )
    return {"payload": {"webhook": await _answer(ctx, request, webhook)}}


@router.get("/{webhook_id}", responses=ok(WebhookEnvelope))
async def get_webhook(ctx: AdminCtx, webhook_id: Id, request: Request) -> dict[str, Any]:
    webhook = await service.get_webhook(ctx.session, ctx.account.id, webhook_id)
    return {"payload": {"webhook": await _answer(ctx, request, webhook)}}


@router.patch("/{webhook_id}", responses={**ok(WebhookEnvelope), **errors(422)})
@router.put("/{webhook_id}", responses={**ok(WebhookEnvelope), **errors(422)})
async def update_webhook(
    ctx: AdminCtx, webhook_id: Id, body: RawBody, request: Request
) -> dict[str, Any]:
    """`recovery_offer: null` dismisses the comeback recovery offer without recovering."""
    fields = WebhookUpdate.model_validate(unwrap(body))
    webhook = await service.get_webhook(ctx.session, ctx.account.id, webhook_id)
    missed_since = await service.update_webhook(
        ctx.session, webhook, fields.model_dump(exclude_unset=True), _limits(request)
    )
    body = await _answer(ctx, request, webhook)
    if missed_since is not None:
        # Re-enabled: offer to recover what it missed (POST .../recover with this `since`).
        body["recover_since"] = iso(missed_since)
    return {"payload": {"webhook": body}}


@router.delete(
    "/{webhook_id}",
    response_class=Response,
    responses=ok_empty("Deleted, with its deliveries; the body is empty"),
)
async def delete_webhook(ctx: AdminCtx, webhook_id: Id) -> Response:
    webhook = await service.get_webhook(ctx.session, ctx.account.id, webhook_id)
    await service.delete_webhook(ctx.session, webhook)
    return Response(status_code=200)


@router.get("/{webhook_id}/deliveries", responses={**ok(DeliveryList), **errors(422)})
async def list_deliveries(
    ctx: AdminCtx,
    webhook_id: Id,
    status: Annotated[str | None, Query(pattern=one_of(DELIVERY_STATUSES))] = None,
    event: Annotated[str | None, Query(max_length=64)] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> dict[str, Any]:
    webhook = await service.get_webhook(ctx.session, ctx.account.id, webhook_id)
    return await answers.delivery_page(ctx.session, webhook, status, event, page)


@router.get("/{webhook_id}/deliveries/{delivery_id}", responses=ok(DeliveryShown))
async def get_delivery(ctx: AdminCtx, webhook_id: Id, delivery_id: Id) -> dict[str, Any]:
    webhook = await service.get_webhook(ctx.session, ctx.account.id, webhook_id)
    return await answers.delivery_shown(ctx.session, webhook, delivery_id)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    responses={**ok(DeliveryRedelivered), **errors(422)},
)
async def redeliver(ctx: AdminCtx, webhook_id: Id, delivery_id: Id) -> dict[str, Any]:
    webhook = await service.get_webhook(ctx.session, ctx.account.id, webhook_id)
    delivery, event = await deliveries.get_delivery(ctx.session, webhook, delivery_id)
    await replay.redeliver(ctx.session, of_webhook(webhook), delivery)
    return {"payload": delivery_json(delivery, event)}


@router.post("/{webhook_id}/recover", responses={**ok(Recovered), **errors(422)})
async def recover(ctx: AdminCtx, webhook_id: Id, body: Recover) -> dict[str, Any]:
    """Sends again what failed since `since`, and the events it never got since then; takes
    the comeback recovery offer when `since` is no later than the offer's."""
    webhook = await service.get_webhook(ctx.session, ctx.account.id, webhook_id)
    return {"payload": await replay.recover(ctx.session, of_webhook(webhook), body.since)}


@router.post("/{webhook_id}/rotate_secret", responses=ok(WebhookEnvelope))
async def rotate_secret(ctx: AdminCtx, webhook_id: Id, request: Request) -> dict[str, Any]:
    webhook = await service.get_webhook(ctx.session, ctx.account.id, webhook_id)
    deliveries.rotate_secret(webhook)
    await ctx.session.flush()
    return {"payload": {"webhook": await _answer(ctx, request, webhook)}}
