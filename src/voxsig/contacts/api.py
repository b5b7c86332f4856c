"""Routes: /api/v1/accounts/{account_id}/contacts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from voxsig.contacts import service
from voxsig.contacts.schemas import (
    ContactConversations,
    ContactCreate,
    ContactCreated,
    ContactFields,
    ContactList,
    ContactShown,
    contact_api_json,
)
from voxsig.conversations.lookup import conversations_of_contact
from voxsig.deps import AccountContext, AdminCtx, Ctx
from voxsig.inboxes.service import get_inbox
from voxsig.kit.schema import MAX_PAGE, Id
from voxsig.models import Contact
from voxsig.openapi import GUARDED, errors, ok, ok_empty
from voxsig.views.payloads import conversation_json, inbox_json
from voxsig.views.snapshot import load_conversations

router = APIRouter(
    prefix="/api/v1/accounts/{account_id}/contacts",
    tags=["contacts"],
    responses={**GUARDED, **errors(401, 404)},
)

Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]


async def _render(ctx: AccountContext, contacts: list[Contact]) -> list[dict[str, Any]]:
    links = await service.inbox_links(ctx.session, contacts)
    return [contact_api_json(c, ctx.account, links.get(c.id, [])) for c in contacts]


async def _page(ctx: AccountContext, page: int, q: str | None) -> dict[str, Any]:
    total, contacts = await service.list_contacts(ctx.session, ctx.account.id, page, q)
    return {"meta": {"count": total, "current_page": page}, "payload": await _render(ctx, contacts)}


@router.get("", responses={**ok(ContactList), **errors(422)})
async def list_contacts(ctx: Ctx, page: Page = 1) -> dict[str, Any]:
    return await _page(ctx, page, None)


@router.get("/search", responses={**ok(ContactList), **errors(422)})
async def search_contacts(
    ctx: Ctx, q: Annotated[str, Query(max_length=255)] = "", page: Page = 1
) -> dict[str, Any]:
    return await _page(ctx, page, q)


@router.post("", responses={**ok(ContactCreated), **errors(422)})
async def create_contact(ctx: Ctx, body: ContactCreate) -> dict[str, Any]:
    inbox = await get_inbox(ctx.session, ctx.account.id, body.inbox_id) if body.inbox_id else None
    contact = await service.create_contact(
        ctx.session, ctx.account.id, body.model_dump(exclude={"inbox_id", "source_id"})
    )
    link = None
    if inbox is not None:
        link = await service.link_to_inbox(ctx.session, contact, inbox, body.source_id)
    return {
        "payload": {
            "contact": (await _render(ctx, [contact]))[0],
            "contact_inbox": {
                "inbox": inbox_json(inbox) if inbox else None,
                "inbox_id": inbox.id if inbox else None,
                "source_id": link.source_id if link else None,
            },
        }
    }


@router.get("/{contact_id}", responses=ok(ContactShown))
async def get_contact(ctx: Ctx, contact_id: Id) -> dict[str, Any]:
    contact = await service.get_contact(ctx.session, ctx.account.id, contact_id)
    return {"payload": (await _render(ctx, [contact]))[0]}


@router.put("/{contact_id}", responses={**ok(ContactShown), **errors(422)})
@router.patch("/{contact_id}", responses={**ok(ContactShown), **errors(422)})
async def update_contact(ctx: Ctx, contact_id: Id, body: ContactFields) -> dict[str, Any]:
    contact = await service.get_contact(ctx.session, ctx.account.id, contact_id)
    await service.update_contact(ctx.session, contact, body.model_dump(exclude_unset=True))
    return {"payload": (await _render(ctx, [contact]))[0]}


@router.delete(
    "/{contact_id}",
    response_class=Response,
    responses={**ok_empty("Deleted; the body is empty"), **errors(403)},
)
async def delete_contact(ctx: AdminCtx, contact_id: Id) -> Response:
    contact = await service.get_contact(ctx.session, ctx.account.id, contact_id)
    await service.delete_contact(ctx.session, contact)
    return Response(status_code=200)


@router.get("/{contact_id}/conversations", responses=ok(ContactConversations))
async def contact_conversations(ctx: Ctx, contact_id: Id) -> dict[str, Any]:
    contact = await service.get_contact(ctx.session, ctx.account.id, contact_id)
    conversations = await conversations_of_contact(ctx.session, contact)
    snapshots = await load_conversations(ctx.session, conversations)
    return {"payload": [conversation_json(s) for s in snapshots]}
