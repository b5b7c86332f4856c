"""Routes: messages of a conversation, and Chatwoot's flat /messages/{id} paths."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from voxsig.bodies import form_body, json_body
from voxsig.conversations.lookup import get_conversation
from voxsig.deps import AccountContext, Acting, ActingContext, Ctx
from voxsig.errors import Invalid
from voxsig.kit.clock import unix_or_none
from voxsig.kit.schema import Cursor, Id
from voxsig.messages import service
from voxsig.messages.attachments import is_multipart, receiving
from voxsig.messages.schemas import MESSAGE_FORM, MessageCreate, MessageList, MessageUpdate
from voxsig.models import Attachment, Conversation, Inbox, Message
from voxsig.models.message import OUTGOING
from voxsig.openapi import GUARDED, MessageObject, errors, ok, ok_empty, request_body
from voxsig.views.payloads import message_json
from voxsig.views.snapshot import load_message_senders

router = APIRouter(
    prefix="/api/v1/accounts/{account_id}",
    tags=["messages"],
    responses={**GUARDED, **errors(401, 404, 422)},
)
NESTED = "/conversations/{conversation_id}/messages"
DELETED = "Deleted (its content is replaced, as Chatwoot does); the body is empty"


async def _render(
    ctx: AccountContext | ActingContext, conversation: Conversation, messages: list[Message]
) -> list[dict[str, Any]]:
    """Messages without their conversation object, as Chatwoot's message endpoints return them:
    that needs only the inbox and the senders, not the whole conversation graph."""
    inbox = await ctx.session.get(Inbox, conversation.inbox_id)
    assert inbox is not None
    snaps = await load_message_senders(ctx.session, messages)
    return [message_json(s, ctx.account, inbox, conversation) for s in snaps]


@router.get(NESTED, responses=ok(MessageList))
async def list_messages(
    ctx: Ctx, conversation_id: Id, before: Cursor | None = None, after: Cursor | None = None
) -> dict[str, Any]:
    conversation = await get_conversation(ctx.session, ctx.account.id, conversation_id)
    messages = await service.list_messages(ctx.session, conversation, before, after)
    rendered = await _render(ctx, conversation, messages)
    return {
        "meta": {
            "contact_last_seen_at": unix_or_none(conversation.contact_last_seen_at),
            "agent_last_seen_at": unix_or_none(conversation.agent_last_seen_at),
        },
        "payload": rendered,
    }


@router.post(
    NESTED,
    responses={**ok(MessageObject), **errors(413)},
    openapi_extra=request_body(MessageCreate, MESSAGE_FORM),
)
async def create_message(ctx: Acting, conversation_id: Id, request: Request) -> dict[str, Any]:
    """JSON, or `multipart/form-data` with files in `attachments[]` (as Chatwoot takes them).
    Agent bots too (Chatwoot opens this route to their tokens): a bot's messages are
    outgoing, with the bot as `sender`."""
    conversation = await ctx.conversation(conversation_id)
    if not is_multipart(request):
        return await _create(ctx, conversation, await json_body(request, MessageCreate))
    async with receiving(request, ctx.session, ctx.account.id, (conversation,)) as incoming:
        body = form_body(incoming.fields, MessageCreate, json_fields=("content_attributes",))
        return await _create(ctx, conversation, body, incoming.attachments)


async def _create(
    ctx: ActingContext,
    conversation: Conversation,
    body: MessageCreate,
    attachments: list[Attachment] | None = None,
) -> dict[str, Any]:
    if ctx.actor.bot is not None and int(body.message_type) != OUTGOING:
        raise Invalid("An agent bot's messages are outgoing", field="message_type")
    created = await service.create_message(
        ctx.session,
        conversation,
        ctx.actor,
        content=body.content,
        message_type=int(body.message_type),
        private=body.private,
        content_type=body.content_type,
        content_attributes=body.content_attributes,
        source_id=body.source_id,
        attachments=attachments or (),
    )
    return (await _render(ctx, conversation, [created]))[0]


async def _update(ctx: AccountContext, message: Message, body: MessageUpdate) -> dict[str, Any]:
    await service.update_message(ctx.session, message, body.model_dump(exclude_unset=True))
    conversation = await ctx.session.get(Conversation, message.conversation_id)
    assert conversation is not None
    return (await _render(ctx, conversation, [message]))[0]


async def _delete(ctx: AccountContext, message: Message) -> Response:
    await service.delete_message(ctx.session, message)
    return Response(status_code=200)


@router.patch(NESTED + "/{message_id}", responses=ok(MessageObject))
async def update_nested(
    ctx: Ctx, conversation_id: Id, message_id: Id, body: MessageUpdate
) -> dict[str, Any]:
    conversation = await get_conversation(ctx.session, ctx.account.id, conversation_id)
    message = await service.get_message(ctx.session, ctx.account.id, message_id, conversation)
    return await _update(ctx, message, body)


@router.delete(
    NESTED + "/{message_id}",
    response_class=Response,
    responses=ok_empty(DELETED),
)
async def delete_nested(ctx: Ctx, conversation_id: Id, message_id: Id) -> Response:
    conversation = await get_conversation(ctx.session, ctx.account.id, conversation_id)
    message = await service.get_message(ctx.session, ctx.account.id, message_id, conversation)
    return await _delete(ctx, message)


@router.patch("/messages/{message_id}", responses=ok(MessageObject))
async def update_flat(ctx: Ctx, message_id: Id, body: MessageUpdate) -> dict[str, Any]:
    message = await service.get_message(ctx.session, ctx.account.id, message_id)
    return await _update(ctx, message, body)


@router.delete(
    "/messages/{message_id}",
    response_class=Response,
    responses=ok_empty(DELETED),
)
async def delete_flat(ctx: Ctx, message_id: Id) -> Response:
    message = await service.get_message(ctx.session, ctx.account.id, message_id)
    return await _delete(ctx, message)
