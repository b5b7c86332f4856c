"""Contacts: the list with its search, and one contact with their conversations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from voxsig.contacts.service import (
    IDENTIFIED_AS,
    PAGE_SIZE,
    before_login,
    get_contact,
    identified_as,
    inbox_links,
    list_contacts,
)
from voxsig.conversations.lookup import conversations_of_contact
from voxsig.dashboard.web import CurrentViewer, DashboardRoute, page
from voxsig.kit.schema import MAX_PAGE, Id
from voxsig.views.snapshot import load_conversations

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


@router.get("/app/contacts")
async def contact_list(
    request: Request,
    viewer: CurrentViewer,
    q: Annotated[str, Query(max_length=255)] = "",
    page_no: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    total, contacts = await list_contacts(
        viewer.session, viewer.account.id, page_no, q.strip() or None
    )
    return page(
        request,
        "contacts/list.html",
        viewer,
        q=q.strip(),
        total=total,
        contacts=contacts,
        page_no=page_no,
        more=page_no * PAGE_SIZE < total,
    )


@router.get("/app/contacts/{contact_id}")
async def contact_page(request: Request, viewer: CurrentViewer, contact_id: Id) -> Response:
    contact = await get_contact(viewer.session, viewer.account.id, contact_id)
    conversations = await conversations_of_contact(viewer.session, contact)
    links = await inbox_links(viewer.session, [contact])
    return page(
        request,
        "contacts/show.html",
        viewer,
        contact=contact,
        conversations=await load_conversations(viewer.session, conversations),
        inboxes=[inbox for _, inbox in links.get(contact.id, [])],
        # A chat before a verified login stays on its anonymous contact: each names the other.
        identified_as=await identified_as(viewer.session, contact),
        before_login=await before_login(viewer.session, contact),
        hidden_attributes=(IDENTIFIED_AS,),
    )
