"""Routes: /public/api/v1/inboxes/{inbox_identifier}/contacts/... (Chatwoot's client API)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.bodies import form_body, json_body
from voxsig.contacts import service as contacts
from voxsig.conversations.changes import Actor, apply_changes, mark_seen
from voxsig.conversations.typing import toggle_typing as typing
from voxsig.deps import DbSession
from voxsig.errors import NotFound
from voxsig.kit.ratelimit import LimitedRoute
from voxsig.kit.schema import Id
from voxsig.messages import service as messages
from voxsig.messages.attachments import is_multipart, receiving
from voxsig.models import Attachment, Conversation, Inbox
from voxsig.models.inbox import API
from voxsig.models.message import INCOMING
from voxsig.openapi import GUARDED, errors, ok, ok_empty, request_body
from voxsig.public import answers, limits, service
from voxsig.public.schemas import (
    PUBLIC_MESSAGE_FORM,
    ContactTyping,
    PublicContactCreate,
    PublicContactObject,
    PublicConversationCreate,
    PublicConversationList,
    PublicConversationObject,
    PublicMessageCreate,
    PublicMessageForm,
    PublicMessageList,
    PublicMessageObject,
    PublicMessageUpdate,
    public_contact_json,
)
from voxsig.public.service import Visitor
from voxsig.public.visibility import visible_message

router = APIRouter(
    prefix="/public/api/v1/inboxes/{inbox_identifier}",
    tags=["public"],
    # Open to the internet like the widget: per-address limits, 429 with Retry-After.
    route_class=LimitedRoute,
    responses={
        **GUARDED,
        **errors(
            (404, "No API inbox with this identifier, or nothing of this contact's here"), 429
        ),
    },
)
CONVERSATION = "/contacts/{contact_identifier}/conversations/{conversation_id}"


async def _inbox(
    request: Request, session: DbSession, inbox_identifier: Annotated[str, Path()]
) -> Inbox:
    limits.check_address(request)
    return await service.inbox_named(session, API, inbox_identifier)


PublicInbox = Annotated[Inbox, Depends(_inbox)]


async def _visitor(
    session: DbSession, inbox: PublicInbox, contact_identifier: Annotated[str, Path()]
) -> Visitor:
    return await service.visitor_of(session, inbox, contact_identifier)


PublicVisitor = Annotated[Visitor, Depends(_visitor)]


@router.post(
    "/contacts",
    responses={
        **ok(PublicContactObject),
        **errors((401, "identifier_hash does not match, or is missing and mandatory"), 422),
    },
)
async def create_contact(
    request: Request, session: DbSession, inbox: PublicInbox, body: PublicContactCreate
) -> dict[str, Any]:
    """A contact for this inbox and its source_id. With a valid identifier_hash, the customer
    with that identifier (made if none) in a new verified contact_inbox; without, an anonymous
    contact of its own, whose e-mail and phone are kept as given (whoever else has them)."""
    limits.check_new_contact(request)
    verified = contacts.verify_identity(inbox, body.identifier, body.identifier_hash)
    fields = body.model_dump(exclude={"identifier_hash", "identifier"})
    identifier = body.identifier if verified else None
    if identifier is None:
        # An unverified identifier would be a claim to be a known customer: dropped.
        contact = await contacts.create_contact(session, inbox.account_id, fields, anonymous=True)
        link = await contacts.link_to_inbox(session, contact, inbox)
        return public_contact_json(contact, link)
    customer = await contacts.verified_customer(session, inbox.account_id, identifier)
    if customer is None:
        customer = await contacts.create_contact(
            session, inbox.account_id, {**fields, "identifier": identifier}, by_visitor=True
        )
    # Always a fresh source_id: whoever held an earlier one of this contact reads nothing new.
    link = await contacts.link_to_inbox(session, customer, inbox, hmac_verified=True)
    return public_contact_json(customer, link)


@router.get("/contacts/{contact_identifier}", responses=ok(PublicContactObject))
async def get_contact(visitor: PublicVisitor) -> dict[str, Any]:
    return public_contact_json(visitor.contact, visitor.link)


@router.patch(
    "/contacts/{contact_identifier}", responses={**ok(PublicContactObject), **errors(422)}
)
async def update_contact(
    session: DbSession, visitor: PublicVisitor, body: PublicContactCreate
) -> dict[str, Any]:
    # The identifier is settled when the contact is created (verified), never changed here.
    fields = body.model_dump(exclude_unset=True, exclude={"identifier_hash", "identifier"})
    await contacts.update_contact(session, visitor.contact, fields, by_visitor=True)
    return public_contact_json(visitor.contact, visitor.link)


@router.get("/contacts/{contact_identifier}/conversations", responses=ok(PublicConversationList))
async def list_conversations(session: DbSession, visitor: PublicVisitor) -> list[dict[str, Any]]:
    rows = await service.own_conversations(session, visitor.link.id, newest_first=False)
    return [await service.render_with_history(session, c) for c in rows]


@router.post(
    "/contacts/{contact_identifier}/conversations",
    responses={**ok(PublicConversationObject), **errors(422)},
)
async def create_conversation(
    session: DbSession, visitor: PublicVisitor, body: PublicConversationCreate
) -> dict[str, Any]:
    conversation = await service.start_conversation(
        session, visitor, custom_attributes=body.custom_attributes
    )
    return await service.render_with_history(session, conversation)


@router.get(CONVERSATION, responses=ok(PublicConversationObject))
async def get_conversation(
    session: DbSession, visitor: PublicVisitor, conversation_id: Id
) -> dict[str, Any]:
    conversation = await service.own_conversation(session, visitor, conversation_id)
    return await service.render_with_history(session, conversation)


@router.post(CONVERSATION + "/toggle_status", responses=ok(PublicConversationObject))
async def resolve(
    session: DbSession, visitor: PublicVisitor, conversation_id: Id
) -> dict[str, Any]:
    conversation = await service.own_conversation(session, visitor, conversation_id)
    await apply_changes(
        session, conversation, Actor(contact=visitor.contact), {"status": "resolved"}
    )
    return await service.render_with_history(session, conversation)


@router.post(
    CONVERSATION + "/toggle_typing",
    response_class=Response,
    responses={**ok_empty("Noted; the body is empty"), **errors(422)},
)
async def toggle_typing(
    request: Request,
    session: DbSession,
    visitor: PublicVisitor,
    conversation_id: Id,
    body: ContactTyping,
) -> Response:
    """The contact starts or stops typing: conversation_typing_on or _off with the contact as
    `user` (Chatwoot's), limited per contact."""
    limits.check_typing(request, visitor.link.id)
    conversation = await service.own_conversation(session, visitor, conversation_id)
    await typing(session, conversation, Actor(contact=visitor.contact), body.typing_status)
    return Response(status_code=200)


@router.post(
    CONVERSATION + "/update_last_seen",
    response_class=Response,
    responses=ok_empty("Noted; the body is empty"),
)
async def update_last_seen(
    session: DbSession, visitor: PublicVisitor, conversation_id: Id
) -> Response:
    conversation = await service.own_conversation(session, visitor, conversation_id)
    mark_seen(conversation, by_agent=False)
    await session.flush()
    return Response(status_code=200)


@router.get(CONVERSATION + "/messages", responses=ok(PublicMessageList))
async def list_messages(
    session: DbSession, visitor: PublicVisitor, conversation_id: Id
) -> list[dict[str, Any]]:
    conversation = await service.own_conversation(session, visitor, conversation_id)
    rows = await service.visible_messages(session, conversation)
    return await service.render_messages(session, conversation, rows)


@router.post(
    CONVERSATION + "/messages",
    responses={**ok(PublicMessageObject), **errors(413, 422)},
    openapi_extra=request_body(PublicMessageCreate, PUBLIC_MESSAGE_FORM),
)
async def create_message(
    request: Request, session: DbSession, visitor: PublicVisitor, conversation_id: Id
) -> dict[str, Any]:
    """JSON, or `multipart/form-data` with files in `attachments[]` (as Chatwoot's client API
    takes them; then the content may be empty). The conversation must be the contact's
    before a byte of a file is read."""
    conversation = await service.own_conversation(session, visitor, conversation_id)
    if not is_multipart(request):
        body = await json_body(request, PublicMessageCreate)
        return await _write(session, visitor, conversation, body)
    limits.check_upload(request, visitor.link.id)
    account_id = visitor.inbox.account_id
    async with receiving(request, session, account_id, reread=(conversation,)) as incoming:
        form = form_body(incoming.fields, PublicMessageForm)
        return await _write(session, visitor, conversation, form, incoming.attachments)


async def _write(
    session: AsyncSession,
    visitor: Visitor,
    conversation: Conversation,
    body: PublicMessageCreate | PublicMessageForm,
    attachments: Sequence[Attachment] = (),
) -> dict[str, Any]:
    created = await messages.create_message(
        session,
        conversation,
        Actor(contact=visitor.contact),
        content=body.content,
        message_type=INCOMING,
        source_id=None,
        attachments=attachments,
    )
    rendered = await service.render_messages(session, conversation, [created], body.echo_id)
    return rendered[0]


@router.patch(
    CONVERSATION + "/messages/{message_id}",
    responses={**ok(PublicMessageObject), **errors(422)},
)
async def submit_values(
    session: DbSession,
    visitor: PublicVisitor,
    conversation_id: Id,
    message_id: Id,
    body: PublicMessageUpdate,
) -> dict[str, Any]:
    conversation = await service.own_conversation(session, visitor, conversation_id)
    message = await visible_message(session, conversation, message_id)
    if message is None:
        raise NotFound(f"No message {message_id} here", field="message_id")
    await answers.submit(session, message, body.submitted_values)
    return (await service.render_messages(session, conversation, [message]))[0]
