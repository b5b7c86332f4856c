"""Which account a user looks at: the chooser (after a login with several accounts, or
pending invitations), and the invitations a user accepts or declines. The header's switcher
posts to auth's `/app/account`; the session keeps the chosen account (users/sessions.py).

An administrator never adds an existing user to an account: the user is invited, and joins
only by accepting here. The invitation link the administrator passes on is the same for a new
email and an existing one: a new user chooses their password through it, an existing one is
sent to log in and accept.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from itsdangerous import URLSafeTimedSerializer

from voxsig.dashboard.auth import HOME, LINK_DAYS, password_link, user_of_link
from voxsig.dashboard.web import (
    CurrentViewer,
    DashboardRoute,
    Form,
    error_page,
    fingerprint,
    page,
    redirect,
)
from voxsig.deps import DbSession
from voxsig.kit.schema import Id
from voxsig.models import User
from voxsig.users import service as users
from voxsig.users.sessions import move_session

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

CHOOSER = "/app/accounts"


def _links(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        request.app.state.settings.resolved_secret_key(), salt="voxsig.dashboard.join"
    )


def join_link(request: Request, user: User, account_id: int) -> str:
    """The link an administrator passes on after adding an agent: alike for every user."""
    token = _links(request).dumps({"u": user.id, "a": account_id, "p": fingerprint(user)})
    return f"{str(request.base_url).rstrip('/')}/join/{token}"


@router.get("/join/{token}")
async def join(request: Request, session: DbSession, token: str) -> Response:
    user = await user_of_link(session, _links(request), token)
    if user is None:
        return error_page(
            request,
            404,
            "This invitation link is not valid any more: it was used already, or it is older "
            f"than {LINK_DAYS} days. Ask an administrator for a new one.",
        )
    if not users.has_password(user):
        return redirect(request, "/" + password_link(request, user).split("/", 3)[3])
    return redirect(
        request,
        f"/?next={CHOOSER}",
        "You already have a Voxsig login: log in, then accept the invitation.",
    )


@router.get(CHOOSER)
async def chooser(request: Request, viewer: CurrentViewer) -> Response:
    return page(
        request,
        "accounts.html",
        viewer,
        invitations=await users.invitations_of(viewer.session, viewer.user),
    )


@router.post("/app/invitations/{invitation_id}/accept")
async def accept(
    request: Request, viewer: CurrentViewer, form: Form, invitation_id: Id
) -> Response:
    account_id = await users.accept_invitation(viewer.session, viewer.user, invitation_id)
    assert viewer.web.session_id is not None  # current_viewer looked the session up
    await move_session(viewer.session, viewer.web.session_id, account_id)
    return redirect(request, HOME, "You joined the account.")


@router.post("/app/invitations/{invitation_id}/decline")
async def decline(
    request: Request, viewer: CurrentViewer, form: Form, invitation_id: Id
) -> Response:
    await users.decline_invitation(viewer.session, viewer.user, invitation_id)
    return redirect(request, CHOOSER, "The invitation was declined.")
