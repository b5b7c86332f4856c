"""What tells an agent that a customer is waiting: the unread count (title, icon, the badge on
Conversations), notices in the page, the sound and browser notifications (static/notify.js),
and the user's own choice of the last two on the Profile page.

A live signal says only which conversation changed; the page asks these JSON routes what that
means for the agent looking (is it theirs or unassigned, is the newest message the customer's,
how many conversations now wait). They answer for the session's account only: another account's
conversation is a 404 like one that does not exist, and without a session everything is a 401
(JSON, never the login page: a script reads it).

"Unread" is the number of open conversations in Mine or Unassigned with incoming messages no
agent has seen (the list's "N unread", counted from `agent_last_seen_at` the same way).
Conversations assigned to someone else are that agent's to answer, and pending, snoozed or
resolved ones wait for nobody.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.dashboard import forms
from voxsig.dashboard.filters import files_line
from voxsig.dashboard.web import CurrentViewer, DashboardRoute, Form, Web, redirect
from voxsig.deps import DbSession
from voxsig.errors import Invalid, Unauthorized
from voxsig.kit.clock import iso
from voxsig.kit.schema import Id
from voxsig.models import Contact, Conversation, Message, User
from voxsig.models.message import INCOMING
from voxsig.tenancy import owned
from voxsig.users.sessions import LiveSession, live_session

router = APIRouter(include_in_schema=False)
pages = APIRouter(route_class=DashboardRoute, include_in_schema=False)

EXCERPT = 140
HEADERS = {"cache-control": "no-store", "x-content-type-options": "nosniff"}
# Optional in every query: the conversation this page shows while its tab is visible. The page
# marks it read as it refreshes, so it is not counted meanwhile.
Viewing = Annotated[Id | None, Query()]


async def looker(session: DbSession, web: Web) -> LiveSession:
    """The session's user and account; 401 (JSON) without a live session."""
    live = None if web.token is None else await live_session(session, web.token)
    if live is None:
        raise Unauthorized("Log in to the dashboard first")
    return live


def _waiting(account_id: int, user_id: int) -> list[ColumnElement[bool]]:
    """Open conversations of the account in Mine or Unassigned with unseen incoming messages."""
    return [
        Conversation.account_id == account_id,
        Conversation.status == "open",
        or_(Conversation.assignee_id == user_id, Conversation.assignee_id.is_(None)),
        exists().where(
            Message.conversation_id == Conversation.id,
            Message.message_type == INCOMING,
            or_(
                Conversation.agent_last_seen_at.is_(None),
                Message.created_at > Conversation.agent_last_seen_at,
            ),
        ),
    ]


async def unread(
    session: AsyncSession, account_id: int, user_id: int, viewing: int | None = None
) -> int:
    query = select(func.count()).select_from(Conversation).where(*_waiting(account_id, user_id))
    if viewing is not None:
        query = query.where(Conversation.id != viewing)
    return int(await session.scalar(query) or 0)


def excerpt(content: str | None) -> str:
    text = re.sub(r"\s+", " ", content or "").strip()
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1].rstrip() + "…"


def _excerpt_of(message: Message) -> str:
    """Its text, or its files' names when it has none (a photo sent alone)."""
    if (message.content or "").strip() or (message.content_attributes or {}).get("deleted"):
        return excerpt(message.content)
    return excerpt(files_line([a.file_name for a in message.attachments]))


async def conversation_state(
    session: AsyncSession, live: LiveSession, conversation: Conversation
) -> dict[str, Any]:
    """What a notice about `conversation` needs; `first_incoming_id` tells a new conversation
    (its first customer message is new) from a further message."""
    contact = await session.get(Contact, conversation.contact_id)
    first_id, last_id = (
        await session.execute(
            select(func.min(Message.id), func.max(Message.id)).where(
                Message.conversation_id == conversation.id,
                Message.message_type == INCOMING,
                Message.private.is_(False),
            )
        )
    ).one()
    last = await session.get(Message, last_id) if last_id is not None else None
    name = (contact.name or contact.email) if contact else None
    return {
        "id": conversation.id,
        "display_id": conversation.display_id,
        "url": f"/app/conversations/{conversation.display_id}",
        "name": name or "Visitor",
        "status": conversation.status,
        "assignee_id": conversation.assignee_id,
        "mine": conversation.assignee_id == live.user.id,
        "unassigned": conversation.assignee_id is None,
        "first_incoming_id": first_id,
        "last_incoming": None
        if last is None
        else {"id": last.id, "excerpt": _excerpt_of(last), "created_at": iso(last.created_at)},
    }


def _json(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers=HEADERS)


@router.get("/app/notifications/state")
async def state(session: DbSession, web: Web, viewing: Viewing = None) -> Response:
    """The count and the user's settings: on each page load and after a reconnection."""
    live = await looker(session, web)
    return _json(
        {
            "unread": await unread(session, live.account.id, live.user.id, viewing),
            "browser": live.user.notify_browser,
            "sound": live.user.notify_sound,
        }
    )


@router.get("/app/notifications/conversations/{conversation_id}")
async def conversation(
    session: DbSession, web: Web, conversation_id: Id, viewing: Viewing = None
) -> Response:
    """One conversation a live signal named (its row id, as signals carry it), with the count
    after the change."""
    live = await looker(session, web)
    row = await owned(session, Conversation, live.account.id, conversation_id)
    body = await conversation_state(session, live, row)
    body["unread"] = await unread(session, live.account.id, live.user.id, viewing)
    return _json(body)


# -- the user's choice, on the Profile page ----------------------------------------------------

SETTINGS = {"browser": "notify_browser", "sound": "notify_sound"}
DONE = {
    ("browser", True): "Browser notifications are on.",
    ("browser", False): "Browser notifications are off.",
    ("sound", True): "The sound is on.",
    ("sound", False): "The sound is off.",
}


def set_notifications(user: User, wanted: dict[str, bool]) -> None:
    """The user's own preference: no event, nothing any webhook or other user sees."""
    for key, value in wanted.items():
        setattr(user, SETTINGS[key], value)


@pages.post("/app/profile/notifications")
async def save_notifications(request: Request, viewer: CurrentViewer, form: Form) -> Response:
    """`browser` and/or `sound`, each "on" or "off"; the others stay as they are."""
    wanted: dict[str, bool] = {}
    for key in SETTINGS:
        value = forms.text(form, key)
        if value not in ("", "on", "off"):
            raise Invalid(f"{key} is on or off, not {value[:40]!r}", field=key)
        if value:
            wanted[key] = value == "on"
    if not wanted:
        raise Invalid("Choose browser or sound, on or off", field="browser")
    set_notifications(viewer.user, wanted)
    return redirect(request, "/app/profile", " ".join(DONE[item] for item in wanted.items()))
