"""Working the conversations: the list with its tabs and filters, one conversation with its
messages, and the agent's actions. Every change goes through the conversation and message
services with the agent as the actor, so activity lines and webhooks are exactly the API's."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from voxsig.conversations.changes import Actor, apply_changes, mark_seen
from voxsig.conversations.filters import PAGE_SIZE, ListFilter, counts, list_conversations
from voxsig.conversations.lookup import get_conversation
from voxsig.conversations.schemas import Labels
from voxsig.conversations.typing import toggle_typing
from voxsig.dashboard import forms, queries
from voxsig.dashboard.web import (
    CurrentViewer,
    DashboardRoute,
    Form,
    Rendered,
    Viewer,
    checked_form,
    page,
    redirect,
    require_csrf,
)
from voxsig.errors import ApiError, Invalid
from voxsig.files.uploads import UploadLimits, UploadRefused
from voxsig.inboxes.service import list_inboxes
from voxsig.kit.clock import utcnow
from voxsig.kit.schema import MAX_PAGE, Id
from voxsig.messages.attachments import deadline, is_multipart, receiving
from voxsig.messages.service import create_message
from voxsig.models import Attachment, Conversation
from voxsig.models.conversation import PRIORITIES
from voxsig.models.message import OUTGOING
from voxsig.users.service import list_members
from voxsig.views.snapshot import load_conversation, load_conversations, load_message_senders

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

TABS = ("open", "pending", "snoozed", "resolved", "all")
ASSIGNEE_FILTERS = {"mine": "Mine", "unassigned": "Unassigned", "all": "All"}
COUNT_KEYS = {"mine": "mine_count", "unassigned": "unassigned_count", "all": "all_count"}
# Snooze choices: label -> hours (None: until the customer writes again).
SNOOZE: dict[str, tuple[str, int | None]] = {
    "1": ("for 1 hour", 1),
    "4": ("for 4 hours", 4),
    "24": ("until tomorrow", 24),
    "168": ("for a week", 168),
    "reply": ("until the customer replies", None),
}
STATUS_DONE = {
    "resolved": "Conversation resolved",
    "open": "Conversation reopened",
    "pending": "Conversation marked as pending",
    "snoozed": "Conversation snoozed",
}


@router.get("/app")
async def app_home(request: Request) -> Response:
    return redirect(request, "/app/conversations")


def _list_filter(
    status: str, assignee: str, inbox: str, label: str, q: str, page_no: str
) -> ListFilter:
    """Lenient: an unknown value in the address bar falls back to the default."""
    return ListFilter(
        status=status if status in TABS else "open",
        assignee_type=assignee if assignee in ASSIGNEE_FILTERS else "all",
        inbox_id=int(inbox) if inbox.isdigit() and len(inbox) < 10 else None,
        labels=[label] if label else [],
        q=q.strip()[:255] or None,
        page=max(1, min(int(page_no), MAX_PAGE))
        if page_no.isdigit() and len(page_no) <= len(str(MAX_PAGE))
        else 1,
    )


@router.get("/app/conversations")
async def conversation_list(
    request: Request,
    viewer: CurrentViewer,
    status: Annotated[str, Query()] = "",
    tab: Annotated[str, Query()] = "",
    assignee: Annotated[str, Query()] = "all",
    inbox: Annotated[str, Query()] = "",
    label: Annotated[str, Query()] = "",
    q: Annotated[str, Query()] = "",
    page_no: Annotated[str, Query(alias="page")] = "1",
) -> Response:
    session, account_id, user_id = viewer.session, viewer.account.id, viewer.user.id
    # A search covers every status unless a tab's link names one (the search form sends only
    # the tab it was on, kept for its other filters); each row shows its status.
    status = status or ("all" if q.strip() else tab)
    f = _list_filter(status, assignee, inbox, label, q, page_no)
    key = COUNT_KEYS[f.assignee_type]
    tab_counts = {
        tab: (await counts(session, account_id, user_id, replace(f, status=tab)))[key]
        for tab in TABS
    }
    assignee_counts = await counts(session, account_id, user_id, f)
    rows = await list_conversations(session, account_id, user_id, f)
    return page(
        request,
        "conversations/list.html",
        viewer,
        live="list",
        filter=f,
        label=f.labels[0] if f.labels else "",
        tabs=TABS,
        tab_counts=tab_counts,
        assignee_filters=ASSIGNEE_FILTERS,
        assignee_counts={k: assignee_counts[v] for k, v in COUNT_KEYS.items()},
        conversations=await load_conversations(session, rows),
        more=len(rows) == PAGE_SIZE,
        inboxes=await list_inboxes(session, account_id),
        labels=await queries.account_labels(session, account_id),
    )


async def _show(
    request: Request,
    viewer: Viewer,
    conversation: Conversation,
    *,
    before: int | None = None,
    errors: forms.Errors | None = None,
    draft: str = "",
    mode: str = "reply",
    labels_typed: str | None = None,
) -> Response:
    """The conversation page. A refused form is shown again with what was typed in it (the
    draft, the labels), so nothing the agent wrote is lost, with or without the page's script."""
    session = viewer.session
    messages = await queries.messages_of(session, conversation, before)
    return page(
        request,
        "conversations/show.html",
        viewer,
        live=str(conversation.id),
        conv=await load_conversation(session, conversation),
        messages=await load_message_senders(session, messages),
        earlier=messages[0].id if len(messages) >= 100 else None,
        members=await list_members(session, viewer.account.id),
        priorities=PRIORITIES,
        snooze=SNOOZE,
        errors=errors or {},
        draft=draft,
        mode=mode if mode in ("reply", "note") else "reply",
        labels_typed=labels_typed,
    )


@router.get("/app/conversations/{display_id}")
async def conversation_page(
    request: Request,
    viewer: CurrentViewer,
    display_id: Id,
    before: Annotated[Id | None, Query()] = None,
    mode: Annotated[str, Query()] = "reply",
) -> Response:
    conversation = await get_conversation(viewer.session, viewer.account.id, display_id)
    # Reading is seeing: the unread count drops for everyone once an agent opened it.
    mark_seen(conversation, by_agent=True)
    await viewer.session.flush()
    return await _show(request, viewer, conversation, before=before, mode=mode)


def _back(conversation: Conversation, suffix: str = "") -> str:
    return f"/app/conversations/{conversation.display_id}{suffix}"


@router.post("/app/conversations/{display_id}/messages")
async def send_message(request: Request, viewer: CurrentViewer, display_id: Id) -> Response:
    """The composer: a urlencoded form, or multipart/form-data with files in attachments[]
    (the composer's own encoding, with or without the page's script)."""
    conversation = await get_conversation(viewer.session, viewer.account.id, display_id)
    if is_multipart(request):
        mode = await _send_with_files(request, viewer, conversation)
    else:
        form = await checked_form(request, viewer.web)
        mode = await _write(request, viewer, conversation, form)
    return redirect(request, _back(conversation, "?mode=note" if mode == "note" else ""))


def _mode(fields: Mapping[str, object]) -> str:
    return "note" if forms.text(fields, "mode") == "note" else "reply"


def _draft(fields: Mapping[str, object]) -> str:
    return forms.text(fields, "content").replace("\x00", "")


async def _send_with_files(request: Request, viewer: Viewer, conversation: Conversation) -> str:
    """The files are stored as they arrive (receiving), then the message is written with them;
    a refused file, a refused message or a wrong CSRF token keeps none of them."""
    try:
        # The conversation is read again once the files are in: the upload may take minutes.
        async with receiving(
            request, viewer.session, viewer.account.id, reread=(conversation,)
        ) as incoming:
            require_csrf(request, viewer.web, incoming.fields.get("csrf_token"))
            return await _write(
                request, viewer, conversation, incoming.fields, incoming.attachments
            )
    except ApiError as exc:
        # The upload was refused (receiving raises from the UploadRefused, which holds the
        # fields read before it). The form puts its token first, so a form of this session
        # has sent it by then: the same rule as every other form's.
        refused = exc.__cause__
        if not isinstance(refused, UploadRefused):
            raise  # no body in time (408): the error page
        await _drain(request)
        require_csrf(request, viewer.web, refused.fields.get("csrf_token"))
        raise Rendered(
            await _show(
                request,
                viewer,
                conversation,
                errors={"attachments": _sentence(exc.message)},
                draft=_draft(refused.fields),
                mode=_mode(refused.fields),
            )
        ) from exc


async def _drain(request: Request) -> None:
    """Reads and drops the rest of a refused body: a browser still sending a large file reads
    no answer until it is done, and gets a reset connection if the server closes first. Within
    the body's limit and deadline; stream() raises RuntimeError when it had all arrived."""
    settings = request.app.state.settings
    limits = UploadLimits.from_settings(settings)
    left = limits.max_body_bytes
    seconds = deadline(settings, limits, request.headers.get("content-length"))
    with contextlib.suppress(RuntimeError, ClientDisconnect, TimeoutError):
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                left -= len(chunk)
                if left < 0:
                    return  # more than any message may be: the connection is dropped


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]


async def _write(
    request: Request,
    viewer: Viewer,
    conversation: Conversation,
    fields: Mapping[str, object],
    attachments: list[Attachment] | None = None,
) -> str:
    """Writes the message; its mode (reply or note) for the redirect."""
    content, mode = forms.text(fields, "content"), _mode(fields)
    # create_message holds the rules of every path (length, NUL, type): a refused message is
    # shown again under the error, never stored.
    try:
        await create_message(
            viewer.session,
            conversation,
            Actor(user=viewer.user),
            content=content,
            message_type=OUTGOING,
            private=mode == "note",
            attachments=attachments or (),
        )
    except ApiError as exc:
        raise Rendered(
            await _show(
                request,
                viewer,
                conversation,
                errors={"content": exc.message},
                draft=_draft(fields),
                mode=mode,
            )
        ) from exc
    return mode


async def _change(
    request: Request, viewer: Viewer, conversation: Conversation, wanted: dict[str, Any]
) -> None:
    try:
        await apply_changes(viewer.session, conversation, Actor(user=viewer.user), wanted)
    except ApiError as exc:
        raise Rendered(
            await _show(request, viewer, conversation, errors=forms.api_errors(exc, "form"))
        ) from exc


@router.post("/app/conversations/{display_id}/status")
async def change_status(
    request: Request, viewer: CurrentViewer, form: Form, display_id: Id
) -> Response:
    conversation = await get_conversation(viewer.session, viewer.account.id, display_id)
    status = forms.text(form, "status")
    if status not in STATUS_DONE:
        raise Invalid(f"{status!r} is not a status", field="status")
    wanted: dict[str, Any] = {"status": status}
    message = STATUS_DONE[status]
    if status == "snoozed":
        label, hours = SNOOZE.get(forms.text(form, "snooze"), SNOOZE["reply"])
        wanted["snoozed_until"] = utcnow() + timedelta(hours=hours) if hours else None
        message += f" {label}"
    await _change(request, viewer, conversation, wanted)
    return redirect(request, _back(conversation), message)


@router.post("/app/conversations/{display_id}/assignee")
async def change_assignee(
    request: Request, viewer: CurrentViewer, form: Form, display_id: Id
) -> Response:
    conversation = await get_conversation(viewer.session, viewer.account.id, display_id)
    wanted = forms.number(form, "assignee_id")
    if forms.text(form, "assignee_id") == "me":
        wanted = viewer.user.id
    await _change(request, viewer, conversation, {"assignee_id": wanted})
    return redirect(request, _back(conversation), "Assignee saved")


@router.post("/app/conversations/{display_id}/typing")
async def agent_typing(viewer: CurrentViewer, form: Form, display_id: Id) -> Response:
    """The composer reports the agent's typing (app.js, debounced): typing_status on|off,
    is_private true while writing a note. 204; the same events as toggle_typing_status."""
    conversation = await get_conversation(viewer.session, viewer.account.id, display_id)
    status = forms.text(form, "typing_status")
    if status not in ("on", "off"):
        raise Invalid(f"{status!r} is not a typing status", field="typing_status")
    await toggle_typing(
        viewer.session,
        conversation,
        Actor(user=viewer.user),
        "on" if status == "on" else "off",
        forms.text(form, "is_private") == "true",
    )
    return Response(status_code=204)


@router.post("/app/conversations/{display_id}/priority")
async def change_priority(
    request: Request, viewer: CurrentViewer, form: Form, display_id: Id
) -> Response:
    conversation = await get_conversation(viewer.session, viewer.account.id, display_id)
    priority = forms.text(form, "priority")
    if priority not in (*PRIORITIES, "none"):
        raise Invalid(f"{priority!r} is not a priority", field="priority")
    await _change(
        request, viewer, conversation, {"priority": None if priority == "none" else priority}
    )
    return redirect(request, _back(conversation), "Priority saved")


@router.post("/app/conversations/{display_id}/labels")
async def change_labels(
    request: Request, viewer: CurrentViewer, form: Form, display_id: Id
) -> Response:
    conversation = await get_conversation(viewer.session, viewer.account.id, display_id)
    text = forms.text(form, "labels")
    typed = [part for part in re.split(r"[,\s]+", text) if part]
    try:
        labels = Labels.model_validate({"labels": typed}).labels
    except ValidationError as exc:
        message = forms.validation_errors(exc).get("labels", "These are not labels")
        raise Rendered(
            await _show(
                request,
                viewer,
                conversation,
                errors={"labels": message},
                labels_typed=text.replace("\x00", ""),
            )
        ) from exc
    await _change(request, viewer, conversation, {"labels": labels})
    return redirect(request, _back(conversation), "Labels saved")
