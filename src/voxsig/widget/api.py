"""Routes: /api/v1/widget/... (Chatwoot's Widget API), called by the widget page.

Authentication is the inbox's public `website_token` (query) plus the visitor token from
`POST config` (header `X-Auth-Token`; query `auth_token` for the live stream, since EventSource
cannot set headers). These endpoints are open to the internet, so every request first passes a
per-IP token bucket (before any database work) and, once the visitor is known, a per-visitor one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.bodies import form_body, json_body
from voxsig.contacts.service import verify_identity
from voxsig.conversations.changes import Actor, mark_seen
from voxsig.conversations.typing import toggle_typing as typing
from voxsig.deps import DbSession
from voxsig.errors import Invalid, NotFound, Unauthorized
from voxsig.events import emit
from voxsig.kit.ratelimit import LimitedRoute, RateLimited, TokenBuckets, check
from voxsig.kit.schema import Cursor, Id
from voxsig.messages.attachments import is_multipart, receiving
from voxsig.models import Attachment, Conversation, Inbox
from voxsig.models.inbox import WEB_WIDGET
from voxsig.openapi import GUARDED, errors, ok, ok_empty, request_body
from voxsig.public import answers, limits
from voxsig.public import service as contact_facing
from voxsig.public.schemas import (
    ContactTyping,
    PublicConversationList,
    PublicConversationObject,
    PublicMessageObject,
    PublicMessageUpdate,
)
from voxsig.public.service import Visitor
from voxsig.widget import live, pages, service, tokens
from voxsig.widget.browser import browser_info, browser_language
from voxsig.widget.schemas import (
    WIDGET_MESSAGE_FORM,
    ContactAttributesDelete,
    ConversationAttributesDelete,
    ConversationAttributesSet,
    EventCreate,
    IdentifiedContact,
    SetUser,
    WidgetConfig,
    WidgetContact,
    WidgetContactUpdate,
    WidgetConversationCreate,
    WidgetLabel,
    WidgetMessageCreate,
    WidgetMessageForm,
    WidgetMessages,
    checked_label,
    config_json,
    widget_contact_json,
)
from voxsig.widget.service import Client

# Generous per IP (offices share one address), tighter per visitor.
PER_IP = (600, 10.0)  # burst, requests per second after it
PER_VISITOR = (60, 1.0)

LOCALE = r"^[A-Za-z]{2,8}([_-][A-Za-z0-9]{1,8})*$"

api = APIRouter(
    prefix="/api/v1/widget",
    tags=["widget"],
    route_class=LimitedRoute,
    responses={
        **GUARDED,
        **errors(
            (
                401,
                "The visitor token (X-Auth-Token) is missing, not valid for this widget, or "
                "names a visitor who no longer exists",
            ),
            (404, "No web widget inbox with this website_token, or nothing of this visitor's"),
            422,
            429,
        ),
    },
)


@dataclass
class WidgetState:
    secret_key: str
    per_ip: TokenBuckets
    per_visitor: TokenBuckets
    streams_per_ip: live.StreamSlots
    streams_per_visitor: live.StreamSlots


def _state(request: Request) -> WidgetState:
    """One per app, made on first use: the key is read once, the buckets live with the app."""
    state: WidgetState | None = getattr(request.app.state, "widget", None)
    if state is None:
        settings = request.app.state.settings
        state = WidgetState(
            settings.resolved_secret_key(),
            TokenBuckets(*PER_IP),
            TokenBuckets(*PER_VISITOR),
            live.StreamSlots(settings.widget_live_streams_per_address),
            live.StreamSlots(settings.widget_live_streams_per_visitor),
        )
        request.app.state.widget = state
    return state


def _address(request: Request) -> str:
    return request.client.host if request.client else "-"


async def _inbox(
    request: Request, session: DbSession, website_token: Annotated[str, Query(max_length=64)]
) -> Inbox:
    check(_state(request).per_ip, _address(request), "address")
    return await contact_facing.inbox_named(session, WEB_WIDGET, website_token)


WidgetInbox = Annotated[Inbox, Depends(_inbox)]


async def _resume(request: Request, session: DbSession, inbox: Inbox, token: str) -> Visitor | None:
    """The visitor a token names. Unauthorized when this server did not sign it for this inbox;
    None when it did but the visitor is gone (deleted by an agent)."""
    claim = tokens.read(_state(request).secret_key, token)
    if claim is None or claim.inbox_id != inbox.id:
        raise Unauthorized("The visitor token is not valid for this widget", field="X-Auth-Token")
    visitor = await service.find_visitor(session, inbox, claim.contact_inbox_id, claim.source_id)
    if visitor is not None:
        check(_state(request).per_visitor, str(visitor.link.id), "visitor")
    return visitor


async def _visitor_of(request: Request, session: DbSession, inbox: Inbox, token: str) -> Visitor:
    if not token:
        raise Unauthorized("Send the visitor token from POST config", field="X-Auth-Token")
    visitor = await _resume(request, session, inbox, token)
    if visitor is None:
        raise Unauthorized("This visitor no longer exists: POST config again", field="X-Auth-Token")
    return visitor


async def _visitor(
    request: Request,
    session: DbSession,
    inbox: WidgetInbox,
    x_auth_token: Annotated[str, Header(max_length=512)] = "",
) -> Visitor:
    return await _visitor_of(request, session, inbox, x_auth_token)


CurrentVisitor = Annotated[Visitor, Depends(_visitor)]


def _token(request: Request, visitor: Visitor) -> str:
    claim = tokens.VisitorClaim(visitor.inbox.id, visitor.link.id, visitor.link.source_id)
    return tokens.sign(_state(request).secret_key, claim)


def _client(request: Request, referer: str) -> Client:
    headers = request.headers
    return Client(
        browser_info(headers.get("user-agent")),
        browser_language(headers.get("accept-language")),
        referer,
    )


@api.post("/config", responses=ok(WidgetConfig))
async def config(
    request: Request,
    session: DbSession,
    inbox: WidgetInbox,
    x_auth_token: Annotated[str, Header(max_length=512)] = "",
) -> dict[str, Any]:
    """Resumes the visitor of the token, or starts a new one; returns the widget's settings
    and the (new) visitor token."""
    visitor = await _resume(request, session, inbox, x_auth_token) if x_auth_token else None
    if visitor is None:
        limits.check_new_contact(request)
        visitor = await service.start_visitor(session, inbox)
    return config_json(inbox, visitor.contact, visitor.link, _token(request, visitor))


@api.post(
    "/events",
    status_code=204,
    response_class=Response,
    responses=ok_empty("Recorded (webwidget_triggered)", 204),
)
async def create_event(
    request: Request,
    session: DbSession,
    visitor: CurrentVisitor,
    body: EventCreate,
    locale: Annotated[str, Query(max_length=32, pattern=LOCALE)] = "",
) -> Response:
    """The widget was opened: webwidget_triggered, with what the server learns from the request."""
    client = _client(request, body.event_info.referer)
    event_info = {
        "initiated_at": {"timestamp": body.event_info.initiated_at.timestamp},
        "referer": client.referer,
        "widget_language": locale,
        "browser_language": client.language,
        "browser": client.browser,
    }
    await emit.webwidget_triggered(session, visitor.link, event_info)
    return Response(status_code=204)


@api.get("/conversations", responses=ok(PublicConversationList))
async def list_conversations(session: DbSession, visitor: CurrentVisitor) -> list[dict[str, Any]]:
    """The visitor's conversations, newest first, without their messages (GET messages)."""
    rows = await contact_facing.own_conversations(session, visitor.link.id, newest_first=True)
    return [await contact_facing.render_conversation(session, c) for c in rows]


@api.post("/conversations", responses=ok(PublicConversationObject))
async def create_conversation(
    request: Request, session: DbSession, visitor: CurrentVisitor, body: WidgetConversationCreate
) -> dict[str, Any]:
    """A new conversation (e.g. after the last one was resolved), with a first message if sent."""
    client = _client(request, body.referer)
    conversation = await service.start_conversation(
        session, visitor, client, body.custom_attributes
    )
    if body.content:
        await service.send_message(session, visitor, body.content, client)
    rows = await contact_facing.visible_messages(session, conversation, limit=service.PAGE_SIZE)
    return await contact_facing.render_conversation(session, conversation, rows)


@api.post(
    "/conversations/update_last_seen",
    response_class=Response,
    responses=ok_empty("Noted; the body is empty"),
)
async def update_last_seen(session: DbSession, visitor: CurrentVisitor) -> Response:
    """The visitor has read their conversation: contact_last_seen_at."""
    conversation = await service.current_conversation(session, visitor)
    if conversation is not None:
        mark_seen(conversation, by_agent=False)
        await session.flush()
    return Response(status_code=200)


async def _current(session: DbSession, visitor: Visitor) -> Conversation:
    conversation = await service.current_conversation(session, visitor)
    if conversation is None:
        raise NotFound("This visitor has no conversation yet", field="conversation")
    return conversation


@api.post(
    "/conversations/toggle_typing",
    response_class=Response,
    responses=ok_empty("Noted; the body is empty"),
)
async def toggle_typing(
    request: Request, session: DbSession, visitor: CurrentVisitor, body: ContactTyping
) -> Response:
    """The visitor starts or stops typing in their current conversation (Chatwoot's widget
    call): conversation_typing_on or _off with the contact as `user`; 404 before the first
    conversation, as in Chatwoot; limited per visitor."""
    limits.check_typing(request, visitor.link.id)
    conversation = await _current(session, visitor)
    await typing(session, conversation, Actor(contact=visitor.contact), body.typing_status)
    return Response(status_code=200)


@api.post("/conversations/set_custom_attributes", responses=ok(PublicConversationObject))
async def set_conversation_attributes(
    session: DbSession, visitor: CurrentVisitor, body: ConversationAttributesSet
) -> dict[str, Any]:
    """`$chatwoot.setConversationCustomAttributes`: the current conversation's
    custom_attributes become these (Chatwoot replaces them too); 404 before the first one."""
    conversation = await _current(session, visitor)
    await service.set_conversation_attributes(
        session, visitor, conversation, body.custom_attributes
    )
    return await contact_facing.render_conversation(session, conversation)


@api.post("/conversations/destroy_custom_attributes", responses=ok(PublicConversationObject))
async def destroy_conversation_attributes(
    session: DbSession, visitor: CurrentVisitor, body: ConversationAttributesDelete
) -> dict[str, Any]:
    """`$chatwoot.deleteConversationCustomAttribute`: those names leave the current
    conversation's custom_attributes; 404 before the first conversation."""
    conversation = await _current(session, visitor)
    await service.forget_conversation_attributes(
        session, visitor, conversation, body.custom_attribute
    )
    return await contact_facing.render_conversation(session, conversation)


@api.post(
    "/labels",
    status_code=204,
    response_class=Response,
    responses=ok_empty("Done, or nothing to do (no conversation, or a label not in use)", 204),
)
async def add_label(session: DbSession, visitor: CurrentVisitor, body: WidgetLabel) -> Response:
    """`$chatwoot.setLabel`: adds a label the account already uses to the current
    conversation (Chatwoot's widget may add only labels defined in the account)."""
    conversation = await service.current_conversation(session, visitor)
    if conversation is not None:
        await service.change_label(session, visitor, conversation, body.label, add=True)
    return Response(status_code=204)


@api.delete(
    "/labels/{label}",
    status_code=204,
    response_class=Response,
    responses=ok_empty("Done, or nothing to do", 204),
)
async def remove_label(
    session: DbSession,
    visitor: CurrentVisitor,
    label: Annotated[str, Path(min_length=1, max_length=255)],
) -> Response:
    """`$chatwoot.removeLabel`: takes the label off the current conversation."""
    try:
        cleaned = checked_label(label)
    except ValueError as error:
        raise Invalid(str(error), field="label") from None
    conversation = await service.current_conversation(session, visitor)
    if conversation is not None:
        await service.change_label(session, visitor, conversation, cleaned, add=False)
    return Response(status_code=204)


@api.get("/messages", responses=ok(WidgetMessages))
async def list_messages(
    session: DbSession,
    visitor: CurrentVisitor,
    before: Annotated[Cursor | None, Query()] = None,
    after: Annotated[Cursor | None, Query()] = None,
) -> dict[str, Any]:
    """The current conversation (null before the first message) and its messages, oldest
    first: the latest page, or those before/after a message id."""
    conversation = await service.current_conversation(session, visitor)
    if conversation is None:
        return {"conversation": None, "payload": []}
    rows = await contact_facing.visible_messages(
        session, conversation, before=before, after=after, limit=service.PAGE_SIZE
    )
    return {
        "conversation": await contact_facing.render_conversation(session, conversation),
        "payload": await contact_facing.render_messages(session, conversation, rows),
    }


@api.post(
    "/messages",
    responses={**ok(PublicMessageObject), **errors(413)},
    openapi_extra=request_body(WidgetMessageCreate, WIDGET_MESSAGE_FORM),
)
async def create_message(
    request: Request, session: DbSession, visitor: CurrentVisitor
) -> dict[str, Any]:
    """The visitor writes; the first message starts a conversation. JSON, or
    `multipart/form-data` with files in `attachments[]` (then the content may be empty),
    limited per visitor like every request and, on top, as messages with files."""
    if not is_multipart(request):
        body = await json_body(request, WidgetMessageCreate)
        return await _send(request, session, visitor, body)
    limits.check_upload(request, visitor.link.id)
    async with receiving(request, session, visitor.inbox.account_id) as incoming:
        form = form_body(incoming.fields, WidgetMessageForm)
        return await _send(request, session, visitor, form, incoming.attachments)


async def _send(
    request: Request,
    session: AsyncSession,
    visitor: Visitor,
    body: WidgetMessageCreate | WidgetMessageForm,
    attachments: Sequence[Attachment] = (),
) -> dict[str, Any]:
    client = _client(request, body.referer)
    conversation, message = await service.send_message(
        session, visitor, body.content, client, attachments
    )
    rendered = await contact_facing.render_messages(session, conversation, [message], body.echo_id)
    return rendered[0]


@api.patch("/messages/{message_id}", responses=ok(PublicMessageObject))
async def submit_values(
    session: DbSession, visitor: CurrentVisitor, message_id: Id, body: PublicMessageUpdate
) -> dict[str, Any]:
    """The visitor answers a question (input_*, form, cards with actions), once:
    message_updated. Any other message is a 422."""
    message = await contact_facing.own_message(session, visitor, message_id)
    await answers.submit(session, message, body.submitted_values)
    conversation = await session.get(Conversation, message.conversation_id)
    assert conversation is not None
    return (await contact_facing.render_messages(session, conversation, [message]))[0]


@api.get("/contact", responses=ok(WidgetContact))
async def get_contact(visitor: CurrentVisitor) -> dict[str, Any]:
    return widget_contact_json(visitor.contact, visitor.link)


@api.patch("/contact", responses=ok(WidgetContact))
async def update_contact(
    session: DbSession, visitor: CurrentVisitor, body: WidgetContactUpdate
) -> dict[str, Any]:
    """`$voxsig.setCustomAttributes` and profile fields; custom_attributes are merged."""
    await service.update_profile(session, visitor.contact, body.model_dump(exclude_unset=True))
    return widget_contact_json(visitor.contact, visitor.link)


@api.post("/contact/destroy_custom_attributes", responses=ok(WidgetContact))
async def destroy_contact_attributes(
    session: DbSession, visitor: CurrentVisitor, body: ContactAttributesDelete
) -> dict[str, Any]:
    """`$chatwoot.deleteCustomAttribute`: those names leave the contact's custom_attributes."""
    await service.forget_attributes(session, visitor.contact, body.custom_attributes)
    return widget_contact_json(visitor.contact, visitor.link)


@api.patch("/contact/set_user", responses=ok(IdentifiedContact))
async def set_user(
    request: Request, session: DbSession, visitor: CurrentVisitor, body: SetUser
) -> dict[str, Any]:
    """`$voxsig.setUser`: identifier_hash = HMAC-SHA256(inbox hmac_token, identifier) marks the
    visitor verified (required when the inbox says so). The answer carries the visitor token
    to keep, which changes when the visitor becomes an existing contact."""
    verified = verify_identity(visitor.inbox, body.identifier, body.identifier_hash)
    visitor = await service.identify(session, visitor, body.identifier, verified)
    profile = body.model_dump(
        exclude_unset=True, exclude={"identifier", "identifier_hash", "additional_attributes"}
    )
    await service.update_profile(session, visitor.contact, profile)
    return {
        **widget_contact_json(visitor.contact, visitor.link),
        "auth_token": _token(request, visitor),
    }


@api.get(
    "/live",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events, for up to a minute (then reconnect)",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **errors(
            (
                429,
                "Too many requests, or too many live streams already open from this address "
                "or for this visitor",
            )
        ),
    },
)
async def live_stream(
    request: Request,
    session: DbSession,
    inbox: WidgetInbox,
    auth_token: Annotated[str, Query(max_length=512)] = "",
) -> StreamingResponse:
    """Server-sent events: `message.created`, `message.updated` (public message JSON),
    `conversation.created`, `conversation.updated` (conversation JSON) of the visitor's own
    conversations (never a private note or an activity line); `ready` once subscribed. Open
    streams are capped per address and per visitor (429 over the cap)."""
    state = _state(request)
    held: list[tuple[live.StreamSlots, str]] = []

    def release() -> None:
        for slots, key in held:
            slots.give_back(key)

    try:
        _open_stream(held, state.streams_per_ip, _address(request), "address")
        visitor = await _visitor_of(request, session, inbox, auth_token)
        _open_stream(held, state.streams_per_visitor, str(visitor.link.id), "visitor")
        watch = await live.watch(session, visitor.link.id)
    except BaseException:
        release()
        raise
    return live.ReleasingStream(
        live.stream(request.app.state.db, request.app.state.hub, watch),
        release,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _open_stream(
    held: list[tuple[live.StreamSlots, str]], slots: live.StreamSlots, key: str, what: str
) -> None:
    """Takes one of `key`'s stream slots into `held`, or refuses with 429 when all are taken
    (a slot frees when a stream ends, within LIFETIME seconds)."""
    if not slots.take(key):
        raise RateLimited(
            live.LIFETIME, f"Too many live streams open for this {what} (at most {slots.limit})"
        )
    held.append((slots, key))


# What app.py includes: the Widget API and the pages (widget, preview, SDK).
router = APIRouter()
router.include_router(api)
router.include_router(pages.router)
