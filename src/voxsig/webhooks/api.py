"""Routes: /api/v1/accounts/{account_id}/webhooks (administrators only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from voxsig.deps import AdminCtx
from voxsig.webhooks import service
from voxsig.webhooks.netguard import IPNetwork, parse_networks
from voxsig.webhooks.schemas import WebhookCreate, WebhookUpdate, unwrap, webhook_json

router = APIRouter(prefix="/api/v1/accounts/{account_id}/webhooks", tags=["webhooks"])

RawBody = Annotated[dict[str, Any], Body()]


def _allowed(request: Request) -> tuple[IPNetwork, ...]:
    return parse_networks(request.app.state.settings.webhook_allowed_networks)


@router.get("")
async def list_webhooks(ctx: AdminCtx) -> dict[str, Any]:
    webhooks = await service.list_webhooks(ctx.session, ctx.account.id)
    return {
        "payload": {
            "webhooks": [webhook_json(w, await service.inbox_of(ctx.session, w)) for w in webhooks]
        }
    }


@router.post("")
async def create_webhook(ctx: AdminCtx, body: RawBody, request: Request) -> dict[str, Any]:
    fields = WebhookCreate.model_validate(unwrap(body))
    webhook = await service.create_webhook(
        ctx.session, ctx.account.id, fields.model_dump(), _allowed(request)
    )
    return {
        "payload": {"webhook": webhook_json(webhook, await service.inbox_of(ctx.session, webhook))}
    }


@router.get("/{webhook_id}")
async def get_webhook(ctx: AdminCtx, webhook_id: int) -> dict[str, Any]:
    webhook = await service.get_webhook(ctx.session, ctx.account.id, webhook_id)
    return {
        "payload": {"webhook": webhook_json(webhook, await service.inbox_of(ctx.session, webhook))}
    }


@router.patch("/{webhook_id}")
@router.put("/{webhook_id}")
async def update_webhook(
    ctx: AdminCtx, webhook_id: int, body: RawBody, request: Request
) -> dict[str, Any]:
    fields = WebhookUpdate.model_validate(unwrap(body))
    webhook = await service.get_webhook(ctx.session, ctx.account.id, webhook_id)
    await service.update_webhook(
        ctx.session, webhook, fields.model_dump(exclude_unset=True), _allowed(request)
    )
    return {
        "payload": {"webhook": webhook_json(webhook, await service.inbox_of(ctx.session, webhook))}
    }


@router.delete("/{webhook_id}")
async def delete_webhook(ctx: AdminCtx, webhook_id: int) -> Response:
    webhook = await service.get_webhook(ctx.session, ctx.account.id, webhook_id)
    await service.delete_webhook(ctx.session, webhook)
    return Response(status_code=200)
