"""Settings for administrators (inboxes, agents) and every user's own profile with their API
access token. Forms are validated by the API's own request models, then handed to the same
services the API calls."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from voxsig.agent_bots import service as agent_bots
from voxsig.dashboard import forms, queries
from voxsig.dashboard.accounts import join_link
from voxsig.dashboard.web import (
    AdminViewer,
    CurrentViewer,
    DashboardRoute,
    Form,
    Rendered,
    Viewer,
    page,
    redirect,
)
from voxsig.errors import ApiError
from voxsig.inboxes import callbacks
from voxsig.inboxes import service as inboxes
from voxsig.inboxes.schemas import CallbackUpdate, InboxCreate, InboxUpdate, embed_script
from voxsig.kit.schema import Id
from voxsig.models import Inbox
from voxsig.models.inbox import WEB_WIDGET
from voxsig.models.user import AGENT, ROLES
from voxsig.models.webhook import PAYLOAD_FORMATS
from voxsig.users import service as users
from voxsig.users.schemas import AgentCreate
from voxsig.webhooks import service as endpoints
from voxsig.webhooks.service import Limits

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

WIDGET_FIELDS = ("website_url", "widget_color", "welcome_title", "welcome_tagline")


@router.get("/app/settings")
async def settings_home(request: Request, viewer: AdminViewer) -> Response:
    return redirect(request, "/app/settings/inboxes")


# -- inboxes ---------------------------------------------------------------------------------


async def _inboxes_page(
    request: Request, viewer: Viewer, *, channel: str = "", form: Any = None, errors: Any = None
) -> Response:
    return page(
        request,
        "settings/inboxes.html",
        viewer,
        inboxes=await inboxes.list_inboxes(viewer.session, viewer.account.id),
        channel=channel,
        form=form or {},
        errors=errors or {},
    )


@router.get("/app/settings/inboxes")
async def inbox_list(request: Request, viewer: AdminViewer) -> Response:
    return await _inboxes_page(request, viewer)


def _limits(request: Request) -> Limits:
    return Limits.of(request.app.state.settings)


def _channel_values(form: FormData, channel: str) -> dict[str, str]:
    names = WIDGET_FIELDS if channel == "web_widget" else ("webhook_url",)
    return {name: forms.text(form, name) for name in names if forms.text(form, name)}


async def _refused(
    request: Request, viewer: Viewer, channel: str, values: Any, errors: forms.Errors
) -> Response:
    """The inboxes page again, with what was typed and what is wrong with it."""
    return await _inboxes_page(request, viewer, channel=channel, form=values, errors=errors)


@router.post("/app/settings/inboxes")
async def inbox_create(request: Request, viewer: AdminViewer, form: Form) -> Response:
    channel = "api" if forms.text(form, "channel") == "api" else "web_widget"
    values = {"name": forms.text(form, "name"), **_channel_values(form, channel)}
    errors: forms.Errors
    try:
        body = InboxCreate.model_validate(
            {"name": values["name"], "channel": {"type": channel, **values}}
        )
        fields = body.channel.model_dump(exclude={"type"}, exclude_none=True)
        inbox = await inboxes.create_inbox(
            viewer.session, viewer.account.id, body.name, channel, fields, _limits(request)
        )
    except ValidationError as exc:
        errors = forms.validation_errors(exc)
        raise Rendered(await _refused(request, viewer, channel, values, errors)) from exc
    except ApiError as exc:  # a callback URL that resolves to a refused address
        errors = forms.api_errors(exc, "webhook_url")
        raise Rendered(await _refused(request, viewer, channel, values, errors)) from exc
    note = "Copy the snippet below into your website." if channel == "web_widget" else ""
    return redirect(
        request, f"/app/settings/inboxes/{inbox.id}", f"Inbox {inbox.name} created. {note}"
    )


async def _inbox_page(
    request: Request, viewer: Viewer, inbox: Inbox, errors: Any = None, form: Any = None
) -> Response:
    base = str(request.base_url).rstrip("/")
    widget = inbox.channel_type == WEB_WIDGET
    callback = None if widget else await callbacks.of_inbox(viewer.session, inbox)
    found = [callback] if callback else []
    return page(
        request,
        "settings/inbox.html",
        viewer,
        inbox=inbox,
        widget=widget,
        snippet=embed_script(inbox, base) if widget else "",
        public_api=f"{base}/public/api/v1/inboxes/{inbox.inbox_identifier}" if not widget else "",
        form=form,
        errors=errors or {},
        callback=callback,
        callback_pending=(await queries.pending_counts(viewer.session, found)).get(
            callback.id if callback else 0, 0
        ),
        callback_error=(await queries.last_errors(viewer.session, found)).get(
            callback.id if callback else 0
        ),
        formats=PAYLOAD_FORMATS,
        # The bot that answers it first, and the others it may choose (dashboard/bots.py).
        bots=await agent_bots.list_bots(viewer.session, viewer.account.id),
        pending=(await queries.pending_by_inbox(viewer.session, [inbox.id])).get(inbox.id, 0),
    )


@router.get("/app/settings/inboxes/{inbox_id}")
async def inbox_page(request: Request, viewer: AdminViewer, inbox_id: Id) -> Response:
    inbox = await inboxes.get_inbox(viewer.session, viewer.account.id, inbox_id)
    return await _inbox_page(request, viewer, inbox)


@router.post("/app/settings/inboxes/{inbox_id}")
async def inbox_update(request: Request, viewer: AdminViewer, form: Form, inbox_id: Id) -> Response:
    inbox = await inboxes.get_inbox(viewer.session, viewer.account.id, inbox_id)
    widget = inbox.channel_type == WEB_WIDGET
    names = (*WIDGET_FIELDS, "greeting_message") if widget else ("webhook_url", "greeting_message")
    values: dict[str, Any] = {"name": forms.text(form, "name")}
    values |= {name: forms.text(form, name) for name in names}  # an empty URL: no callback
    values["greeting_enabled"] = forms.text(form, "greeting_enabled") == "on"
    try:
        changes = InboxUpdate.model_validate(values).changes()
        await inboxes.update_inbox(viewer.session, inbox, changes, _limits(request))
    except ValidationError as exc:
        raise Rendered(
            await _inbox_page(request, viewer, inbox, forms.validation_errors(exc), values)
        ) from exc
    except ApiError as exc:
        errors = forms.api_errors(exc, "webhook_url")
        raise Rendered(await _inbox_page(request, viewer, inbox, errors, values)) from exc
    return redirect(request, f"/app/settings/inboxes/{inbox.id}", "Inbox saved")


@router.post("/app/settings/inboxes/{inbox_id}/callback")
async def callback_update(
    request: Request, viewer: AdminViewer, form: Form, inbox_id: Id
) -> Response:
    """The callback's payload format (its URL is the inbox form's; enabling, the secret and
    the delivery log are the endpoint pages', as for a webhook)."""
    inbox = await inboxes.get_inbox(viewer.session, viewer.account.id, inbox_id)
    endpoint = await callbacks.callback_of(viewer.session, inbox)
    try:
        fields = CallbackUpdate.model_validate(
            {"payload_format": forms.text(form, "payload_format")}
        ).model_dump(exclude_unset=True)
    except ValidationError as exc:
        viewer.web.flash("Choose chatwoot or voxsig", "error")
        raise Rendered(redirect(request, f"/app/settings/inboxes/{inbox.id}")) from exc
    await endpoints.update_webhook(viewer.session, endpoint, fields, _limits(request))
    return redirect(request, f"/app/settings/inboxes/{inbox.id}", "Callback saved")


# -- agents ----------------------------------------------------------------------------------


async def _agents_page(
    request: Request,
    viewer: Viewer,
    *,
    form: Any = None,
    errors: Any = None,
    invited: Any = None,
    row_error: tuple[int, str] | None = None,
) -> Response:
    agents = await users.list_agents(viewer.session, viewer.account.id)
    return page(
        request,
        "settings/agents.html",
        viewer,
        # What the account may see of each: a pending invitee's typed name, never their own.
        agents=[
            {
                "id": a.user.id,
                "name": users.shown_name(a),
                "email": a.user.email,
                "role": a.membership.role,
                "joined": not a.pending and users.has_password(a.user),
            }
            for a in agents
        ],
        form=form or {"role": AGENT},
        errors=errors or {},
        invited=invited,
        row_error=row_error,
    )


@router.get("/app/settings/agents")
async def agent_list(request: Request, viewer: AdminViewer) -> Response:
    return await _agents_page(request, viewer)


@router.post("/app/settings/agents")
async def agent_add(request: Request, viewer: AdminViewer, form: Form) -> Response:
    values = {k: forms.text(form, k) for k in ("name", "email", "role")}
    try:
        body = AgentCreate.model_validate(values)
        member = await users.add_member(
            viewer.session, viewer.account.id, body.name, body.email, body.role
        )
    except ValidationError as exc:
        errors = forms.validation_errors(exc)
        raise Rendered(await _agents_page(request, viewer, form=values, errors=errors)) from exc
    except ApiError as exc:
        errors = forms.api_errors(exc, "email")
        raise Rendered(await _agents_page(request, viewer, form=values, errors=errors)) from exc
    # The same answer whether the email had a user or not: the typed name and a join link
    # (a new user chooses their password through it, an existing one logs in and accepts).
    # It is shown on this response only: for a new user it is as good as a password.
    invited = {
        "name": users.shown_name(member),
        "link": join_link(request, member.user, viewer.account.id),
    }
    return await _agents_page(request, viewer, invited=invited)


@router.post("/app/settings/agents/{user_id}/role")
async def agent_role(request: Request, viewer: AdminViewer, form: Form, user_id: Id) -> Response:
    member = await users.get_agent(viewer.session, viewer.account.id, user_id)
    role = forms.text(form, "role")
    if role not in ROLES:
        role = member.membership.role
    try:
        await users.update_member(viewer.session, member, None, role)
    except ApiError as exc:
        raise Rendered(
            await _agents_page(request, viewer, row_error=(user_id, exc.message))
        ) from exc
    name = users.shown_name(member)
    return redirect(request, "/app/settings/agents", f"{name} is now {role}.")


@router.get("/app/settings/agents/{user_id}/remove")
async def agent_remove_confirm(request: Request, viewer: AdminViewer, user_id: Id) -> Response:
    member = await users.get_agent(viewer.session, viewer.account.id, user_id)
    return page(
        request,
        "confirm.html",
        viewer,
        title=f"Remove {users.shown_name(member)}?",
        message=f"{users.shown_name(member)} ({member.user.email}) will no longer be able to "
        "open this account (an invitation not yet accepted is withdrawn). Conversations "
        "assigned to them stay assigned.",
        action=f"/app/settings/agents/{user_id}/remove",
        button="Remove agent",
        cancel="/app/settings/agents",
    )


@router.post("/app/settings/agents/{user_id}/remove")
async def agent_remove(request: Request, viewer: AdminViewer, form: Form, user_id: Id) -> Response:
    member = await users.get_agent(viewer.session, viewer.account.id, user_id)
    try:
        await users.remove_member(viewer.session, member)
    except ApiError as exc:
        raise Rendered(
            await _agents_page(request, viewer, row_error=(user_id, exc.message))
        ) from exc
    return redirect(request, "/app/settings/agents", f"{users.shown_name(member)} was removed.")


# -- profile ---------------------------------------------------------------------------------


@router.get("/app/profile")
async def profile(request: Request, viewer: CurrentViewer) -> Response:
    return page(request, "profile.html", viewer, token=None)


@router.post("/app/profile/token")
async def regenerate_token(request: Request, viewer: CurrentViewer, form: Form) -> Response:
    # Tokens are stored as digests: a new one is the only way to see one.
    token = await users.replace_tokens(viewer.session, viewer.user)
    return page(request, "profile.html", viewer, token=token)
