"""Routes: /api/v1/accounts/{account_id}/inboxes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from voxsig.deps import AdminCtx, Ctx
from voxsig.inboxes import service
from voxsig.inboxes.schemas import (
    InboxCreate,
    InboxList,
    InboxObject,
    InboxUpdate,
    inbox_api_json,
)
from voxsig.kit.schema import Id
from voxsig.openapi import GUARDED, errors, ok, ok_empty

router = APIRouter(
    prefix="/api/v1/accounts/{account_id}/inboxes",
    tags=["inboxes"],
    responses={**GUARDED, **errors(401, 404)},
)


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
        ctx.session, ctx.account.id, body.name, body.channel.type, fields
    )
    return inbox_api_json(inbox, _base_url(request), show_secrets=True)


@router.patch("/{inbox_id}", responses={**ok(InboxObject), **errors(403, 422)})
async def update_inbox(
    ctx: AdminCtx, inbox_id: Id, body: InboxUpdate, request: Request
) -> dict[str, Any]:
    inbox = await service.get_inbox(ctx.session, ctx.account.id, inbox_id)
    service.apply_changes(inbox, body.changes())
    await ctx.session.flush()
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
