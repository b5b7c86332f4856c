"""Routes: /public/api/v1/inboxes/{inbox_identifier}/contacts/... (Chatwoot's client API)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.contacts import service as contacts
from voxsig.conversations import service as conversations
from voxsig.conversations.service import Actor
from voxsig.deps import DbSession
from voxsig.errors import NotFound
from voxsig.events.snapshot import load_conversation, load_conversations, load_message_senders
from voxsig.kit.ratelimit import LimitedRoute
from voxsig.kit.schema import Id
from voxsig.messages import service as messages
from voxsig.models import Contact, ContactInbox, Conversation, Inbox, Message
from voxsig.models.inbox import API
from voxsig.models.message import INCOMING
from voxsig.openapi import GUARDED, errors, ok, ok_empty
from voxsig.public import answers, limits
from voxsig.public.schemas import (
    PublicContactCreate,
    PublicContactObject,
    PublicConversationCreate,
    PublicConversationList,
    PublicConversationObject,
    PublicMessageCreate,
    PublicMessageList,
    PublicMessageObject,
    PublicMessageUpdate,
    public_contact_json,
    public_conversation_json,
    public_message_json,
)
from voxsig.public.visibility import visible_message, visible_to_contact

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
    inbox = await session.scalar(
        select(Inbox).where(Inbox.inbox_identifier == inbox_identifier, Inbox.channel_type == API)
    )
    if inbox is None:
        raise NotFound("No API inbox with this identifier", field="inbox_identifier")
    return inbox


PublicInbox = Annotated[Inbox, Depends(_inbox)]


@dataclass
class Visitor:
    session: AsyncSession
    inbox: Inbox
    link: ContactInbox
    contact: Contact


async def _visitor(
    session: DbSession, inbox: PublicInbox, contact_identifier: Annotated[str, Path()]
) -> Visitor:
    link = await contacts.find_contact_inbox(session, inbox.id, contact_identifier)
    contact = await session.get(Contact, link.contact_id) if link else None
    if link is None or contact is None:
        raise NotFound("No contact with this identifier in this inbox", field="contact_identifier")
    return Visitor(session, inbox, link, contact)


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
async def update_contact(visitor: PublicVisitor, body: PublicContactCreate) -> dict[str, Any]:
    # The identifier is settled when the contact is created (verified), never changed here.
    fields = body.model_dump(exclude_unset=True, exclude={"identifier_hash", "identifier"})
    await contacts.update_contact(visitor.session, visitor.contact, fields, by_visitor=True)
    return public_contact_json(visitor.contact, visitor.link)


async def _own_conversation(visitor: Visitor, conversation_id: Id) -> Conversation:
    conversation = await visitor.session.scalar(
        select(Conversation).where(
            Conversation.contact_inbox_id == visitor.link.id,
            Conversation.display_id == conversation_id,
        )
    )
    if conversation is None:
        raise NotFound(
            f"No conversation {conversation_id} for this contact", field="conversation_id"
        )
    return conversation


async def _public_messages(session: AsyncSession, conversation: Conversation) -> list[Message]:
    rows = await session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation.id, visible_to_contact())
        .order_by(Message.id)
    )
    return list(rows)


async def _render(session: AsyncSession, conversation: Conversation) -> dict[str, Any]:
    conv = await load_conversation(session, conversation)
    snaps = await load_message_senders(session, await _public_messages(session, conversation))
    return public_conversation_json(conv, [public_message_json(s, conv) for s in snaps])


@router.get("/contacts/{contact_identifier}/conversations", responses=ok(PublicConversationList))
async def list_conversations(visitor: PublicVisitor) -> list[dict[str, Any]]:
    rows = await visitor.session.scalars(
        select(Conversation)
        .where(Conversation.contact_inbox_id == visitor.link.id)
        .order_by(Conversation.id)
    )
    return [await _render(visitor.session, c) for c in rows.all()]


@router.post(
    "/contacts/{contact_identifier}/conversations",
    responses={**ok(PublicConversationObject), **errors(422)},
)
async def create_conversation(
    visitor: PublicVisitor, body: PublicConversationCreate
) -> dict[str, Any]:
    conversation = await conversations.create_conversation(
        visitor.session, visitor.inbox, visitor.link, custom_attributes=body.custom_attributes
    )
    return await _render(visitor.session, conversation)


@router.get(CONVERSATION, responses=ok(PublicConversationObject))
async def get_conversation(visitor: PublicVisitor, conversation_id: Id) -> dict[str, Any]:
    return await _render(visitor.session, await _own_conversation(visitor, conversation_id))


@router.post(CONVERSATION + "/toggle_status", responses=ok(PublicConversationObject))
async def resolve(visitor: PublicVisitor, conversation_id: Id) -> dict[str, Any]:
    conversation = await _own_conversation(visitor, conversation_id)
    await conversations.apply_changes(
        visitor.session, conversation, Actor(contact=visitor.contact), {"status": "resolved"}
    )
    return await _render(visitor.session, conversation)


@router.post(
    CONVERSATION + "/toggle_typing",
    response_class=Response,
    responses=ok_empty("Noted; the body is empty"),
)
async def toggle_typing(visitor: PublicVisitor, conversation_id: Id) -> Response:
    await _own_conversation(visitor, conversation_id)
    return Response(status_code=200)


@router.post(
    CONVERSATION + "/update_last_seen",
    response_class=Response,
    responses=ok_empty("Noted; the body is empty"),
)
async def update_last_seen(visitor: PublicVisitor, conversation_id: Id) -> Response:
    conversation = await _own_conversation(visitor, conversation_id)
    conversations.mark_seen(conversation, by_agent=False)
    await visitor.session.flush()
    return Response(status_code=200)


@router.get(CONVERSATION + "/messages", responses=ok(PublicMessageList))
async def list_messages(visitor: PublicVisitor, conversation_id: Id) -> list[dict[str, Any]]:
    conversation = await _own_conversation(visitor, conversation_id)
    conv = (await load_conversations(visitor.session, [conversation]))[0]
    snaps = await load_message_senders(
        visitor.session, await _public_messages(visitor.session, conversation)
    )
    return [public_message_json(s, conv) for s in snaps]


@router.post(CONVERSATION + "/messages", responses={**ok(PublicMessageObject), **errors(422)})
async def create_message(
    visitor: PublicVisitor, conversation_id: Id, body: PublicMessageCreate
) -> dict[str, Any]:
    conversation = await _own_conversation(visitor, conversation_id)
    created = await messages.create_message(
        visitor.session,
        conversation,
        Actor(contact=visitor.contact),
        content=body.content,
        message_type=INCOMING,
        source_id=None,
    )
    conv = await load_conversation(visitor.session, conversation)
    snap = (await load_message_senders(visitor.session, [created.message]))[0]
    return public_message_json(snap, conv, body.echo_id)


@router.patch(
    CONVERSATION + "/messages/{message_id}",
    responses={**ok(PublicMessageObject), **errors(422)},
)
async def submit_values(
    visitor: PublicVisitor, conversation_id: Id, message_id: Id, body: PublicMessageUpdate
) -> dict[str, Any]:
    conversation = await _own_conversation(visitor, conversation_id)
    message = await visible_message(visitor.session, conversation, message_id)
    if message is None:
        raise NotFound(f"No message {message_id} here", field="message_id")
    await answers.submit(visitor.session, message, body.submitted_values)
    conv = await load_conversation(visitor.session, conversation)
    snap = (await load_message_senders(visitor.session, [message]))[0]
    return public_message_json(snap, conv)
