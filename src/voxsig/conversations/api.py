"""Routes: /api/v1/accounts/{account_id}/conversations."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from voxsig.conversations import changes, creation, filters, lookup, typing
from voxsig.conversations.changes import Actor
from voxsig.conversations.filters import ListFilter
from voxsig.conversations.schemas import (
    AgentSeen,
    Assignment,
    AssignmentResult,
    ConversationCountsBody,
    ConversationCreate,
    ConversationCustomAttributes,
    ConversationList,
    ConversationUpdate,
    CustomAttributes,
    LabelList,
    Labels,
    StatusToggled,
    TogglePriority,
    ToggleStatus,
    ToggleTyping,
)
from voxsig.deps import AccountContext, Acting, ActingContext, Ctx
from voxsig.kit.clock import unix, unix_or_none
from voxsig.kit.schema import MAX_PAGE, Id, one_of
from voxsig.messages.service import create_message
from voxsig.models import Conversation
from voxsig.models.conversation import STATUSES
from voxsig.models.message import OUTGOING
from voxsig.openapi import GUARDED, ConversationObject, errors, ok, ok_empty
from voxsig.users.schemas import agent_json
from voxsig.users.service import get_member
from voxsig.views.payloads import conversation_json
from voxsig.views.snapshot import load_conversation, load_conversations

router = APIRouter(
    prefix="/api/v1/accounts/{account_id}/conversations",
    tags=["conversations"],
    responses={**GUARDED, **errors(401, 404)},
)

StatusFilter = Annotated[str, Query(pattern=one_of((*STATUSES, "all")))]
AssigneeType = Annotated[str, Query(pattern="^(me|mine|unassigned|assigned|all)$")]


def _filter(
    status: str,
    assignee_type: str,
    inbox_id: Id | None,
    labels: list[str] | None,
    q: str | None,
    page: int,
) -> ListFilter:
    return ListFilter(
        status=status,
        assignee_type=assignee_type,
        inbox_id=inbox_id,
        labels=labels or [],
        q=q or None,
        page=page,
    )


@router.get("", responses={**ok(ConversationList), **errors(422)})
async def list_conversations(
    ctx: Ctx,
    status: StatusFilter = "open",
    assignee_type: AssigneeType = "all",
    inbox_id: Id | None = None,
    q: Annotated[str | None, Query(max_length=255)] = None,
    labels: Annotated[list[str] | None, Query(alias="labels[]")] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> dict[str, Any]:
    f = _filter(status, assignee_type, inbox_id, labels, q, page)
    meta = await filters.counts(ctx.session, ctx.account.id, ctx.user.id, f)
    rows = await filters.list_conversations(ctx.session, ctx.account.id, ctx.user.id, f)
    snapshots = await load_conversations(ctx.session, rows)
    return {"data": {"meta": meta, "payload": [conversation_json(s) for s in snapshots]}}


@router.get("/meta", responses={**ok(ConversationCountsBody), **errors(422)})
async def conversations_meta(
    ctx: Ctx,
    status: StatusFilter = "open",
    inbox_id: Id | None = None,
    q: Annotated[str | None, Query(max_length=255)] = None,
    labels: Annotated[list[str] | None, Query(alias="labels[]")] = None,
) -> dict[str, Any]:
    f = _filter(status, "all", inbox_id, labels, q, 1)
    return {"meta": await filters.counts(ctx.session, ctx.account.id, ctx.user.id, f)}


async def _rendered(
    ctx: AccountContext | ActingContext, conversation: Conversation
) -> dict[str, Any]:
    return conversation_json(await load_conversation(ctx.session, conversation))


# The routes below that take `Acting` are those Chatwoot opens to agent bots' tokens too.


@router.post("", responses={**ok(ConversationObject), **errors(422)})
async def create_conversation(ctx: Acting, body: ConversationCreate) -> dict[str, Any]:
    inbox = await ctx.inbox(body.inbox_id)
    link = await creation.contact_inbox_of(ctx.session, inbox, body.contact_id, body.source_id)
    conversation = await creation.create_conversation(
        ctx.session,
        inbox,
        link,
        status=body.status,
        assignee_id=body.assignee_id,
        additional_attributes=body.additional_attributes,
        custom_attributes=body.custom_attributes,
    )
    if body.message is not None:
        first = body.message
        await create_message(
            ctx.session,
            conversation,
            ctx.actor,
            content=first.content,
            message_type=OUTGOING,
            private=first.private,
            content_type=first.content_type,
            content_attributes=first.content_attributes,
        )
    return await _rendered(ctx, conversation)


@router.get("/{conversation_id}", responses=ok(ConversationObject))
async def get_conversation(ctx: Ctx, conversation_id: Id) -> dict[str, Any]:
    return await _rendered(
        ctx, await lookup.get_conversation(ctx.session, ctx.account.id, conversation_id)
    )


@router.patch("/{conversation_id}", responses={**ok(ConversationObject), **errors(422)})
async def update_conversation(
    ctx: Acting, conversation_id: Id, body: ConversationUpdate
) -> dict[str, Any]:
    conversation = await ctx.conversation(conversation_id)
    await changes.apply_changes(ctx.session, conversation, ctx.actor, body.wanted())
    return await _rendered(ctx, conversation)


@router.post("/{conversation_id}/toggle_status", responses={**ok(StatusToggled), **errors(422)})
async def toggle_status(
    ctx: Acting, conversation_id: Id, body: ToggleStatus | None = None
) -> dict[str, Any]:
    body = body or ToggleStatus()
    conversation = await ctx.conversation(conversation_id)
    status = changes.toggled_status(conversation.status, body.status)
    wanted: dict[str, Any] = {"status": status}
    if status == "snoozed":
        wanted["snoozed_until"] = body.snoozed_until
    await changes.apply_changes(ctx.session, conversation, ctx.actor, wanted)
    return {
        "payload": {
            "success": True,
            "current_status": conversation.status,
            "conversation_id": conversation.display_id,
            "snoozed_until": unix_or_none(body.snoozed_until),
        }
    }


@router.post(
    "/{conversation_id}/toggle_priority",
    response_class=Response,
    responses={**ok_empty("Set; the body is empty"), **errors(422)},
)
async def toggle_priority(ctx: Acting, conversation_id: Id, body: TogglePriority) -> Response:
    conversation = await ctx.conversation(conversation_id)
    priority = None if body.priority == "none" else body.priority
    await changes.apply_changes(ctx.session, conversation, ctx.actor, {"priority": priority})
    return Response(status_code=200)


@router.post(
    "/{conversation_id}/toggle_typing_status",
    response_class=Response,
    responses={**ok_empty("Noted; the body is empty"), **errors(422)},
)
async def toggle_typing_status(ctx: Ctx, conversation_id: Id, body: ToggleTyping) -> Response:
    """The agent starts or stops typing (Chatwoot's route and body): conversation_typing_on or
    _off with this agent as `user`; nothing is stored."""
    conversation = await lookup.get_conversation(ctx.session, ctx.account.id, conversation_id)
    await typing.toggle_typing(
        ctx.session, conversation, Actor(user=ctx.user), body.typing_status, body.is_private
    )
    return Response(status_code=200)


@router.post("/{conversation_id}/assignments", responses={**ok(AssignmentResult), **errors(422)})
async def assign(ctx: Acting, conversation_id: Id, body: Assignment) -> dict[str, Any] | None:
    conversation = await ctx.conversation(conversation_id)
    await changes.apply_changes(
        ctx.session, conversation, ctx.actor, {"assignee_id": body.assignee_id}
    )
    if body.assignee_id is None:
        return None
    member = await get_member(ctx.session, ctx.account.id, body.assignee_id)
    return agent_json(member.user, member.membership)


@router.get("/{conversation_id}/labels", responses=ok(LabelList))
async def get_labels(ctx: Ctx, conversation_id: Id) -> dict[str, Any]:
    conversation = await lookup.get_conversation(ctx.session, ctx.account.id, conversation_id)
    return {"payload": await lookup.labels_of(ctx.session, conversation)}


@router.post("/{conversation_id}/labels", responses={**ok(LabelList), **errors(422)})
async def set_labels(ctx: Ctx, conversation_id: Id, body: Labels) -> dict[str, Any]:
    conversation = await lookup.get_conversation(ctx.session, ctx.account.id, conversation_id)
    await changes.apply_changes(
        ctx.session, conversation, Actor(user=ctx.user), {"labels": body.labels}
    )
    return {"payload": await lookup.labels_of(ctx.session, conversation)}


@router.post(
    "/{conversation_id}/custom_attributes",
    responses={**ok(ConversationCustomAttributes), **errors(422)},
)
async def set_custom_attributes(
    ctx: Acting, conversation_id: Id, body: CustomAttributes
) -> dict[str, Any]:
    conversation = await ctx.conversation(conversation_id)
    await changes.apply_changes(
        ctx.session, conversation, ctx.actor, {"custom_attributes": body.custom_attributes}
    )
    return {"custom_attributes": conversation.custom_attributes}


@router.post("/{conversation_id}/update_last_seen", responses=ok(AgentSeen))
async def update_last_seen(ctx: Ctx, conversation_id: Id) -> dict[str, Any]:
    conversation = await lookup.get_conversation(ctx.session, ctx.account.id, conversation_id)
    changes.mark_seen(conversation, by_agent=True)
    await ctx.session.flush()
    return {
        "id": conversation.display_id,
        "agent_last_seen_at": unix(conversation.agent_last_seen_at),
    }
