"""First run, login, logout, the set-password link of a new agent, and switching accounts.

`/` is the onboarding form while the installation has no account, and the login form after.
"""

from __future__ import annotations

import asyncio
import math
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from voxsig.accounts.service import account_problems, create_account
from voxsig.dashboard import forms, queries
from voxsig.dashboard.web import (
    CurrentViewer,
    DashboardRoute,
    Form,
    Rendered,
    Web,
    error_page,
    fingerprint,
    page,
    redirect,
)
from voxsig.deps import DbSession
from voxsig.errors import ApiError
from voxsig.models import User
from voxsig.users import attempts
from voxsig.users.passwords import hash_password, verify_password
from voxsig.users.service import (
    change_password,
    find_user_by_email,
    has_password,
    invitations_of,
    memberships,
    replace_tokens,
    set_password,
)
from voxsig.users.sessions import move_session

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

HOME = "/app/conversations"
# accounts.service's field names -> the onboarding form's.
ONBOARDING_FIELDS = {"name": "account_name", "user_name": "name"}
LINK_DAYS = 7
_dummy_hash: list[str] = []


def client_address(request: Request) -> str:
    """The client's address: the peer's, or X-Forwarded-For's only from a trusted proxy
    (VOXSIG_TRUSTED_PROXIES; uvicorn rewrites the peer then, see cli.serve)."""
    return request.client.host if request.client else "unknown"


def too_many(wait: float, response: Response) -> Response:
    response.headers["retry-after"] = str(max(1, math.ceil(wait)))
    return response


def _wait_text(wait: float, what: str = "login attempts") -> str:
    return f"Too many {what}. Try again in {max(1, math.ceil(wait / 60))} minutes."


def safe_next(target: str | None) -> str:
    """Only a path within the dashboard: never another site (an open redirect)."""
    if target and target.startswith("/app") and not target.startswith("//"):
        return target
    return HOME


@router.get("/")
async def home(
    request: Request, session: DbSession, web: Web, next: Annotated[str, Query()] = ""
) -> Response:
    if web.token is not None:
        return redirect(request, safe_next(next))
    if not await queries.has_account(session):
        return page(request, "onboarding.html", form={}, errors={})
    return page(request, "login.html", form={"next": next}, errors={})


@router.post("/onboarding")
async def onboard(request: Request, session: DbSession, web: Web, form: Form) -> Response:
    if await queries.has_account(session):
        return error_page(
            request, 403, "Voxsig is already set up. Log in, or ask an administrator to add you."
        )
    values = {k: forms.text(form, k) for k in ("account_name", "name", "email")}
    password = forms.text(form, "password")
    # Every field's problem at once, each next to its field (the service's names -> the form's).
    errors: forms.Errors = {"name": "Your name is needed"} if not values["name"] else {}
    problems = account_problems(values["account_name"], values["email"], password, values["name"])
    for field, message in problems.items():
        errors.setdefault(ONBOARDING_FIELDS.get(field, field), message)
    if not errors:
        try:
            made = await create_account(
                session, values["account_name"], values["email"], password, values["name"]
            )
        except ApiError as exc:
            errors[ONBOARDING_FIELDS.get(exc.field or "", exc.field or "email")] = exc.message
    if errors:
        raise Rendered(page(request, "onboarding.html", form=values, errors=errors))
    user = await session.get(User, made.user_id)
    assert user is not None
    await web.login(session, user, made.account_id)
    return redirect(
        request,
        "/app/settings/inboxes",
        f"Welcome to Voxsig, {user.name}! Create an inbox to start receiving conversations.",
    )


async def _password_matches(user: User | None, password: str) -> bool:
    """argon2 on a thread (it takes tens of milliseconds); an unknown email, or a user who has
    not chosen a password yet, costs the same time as a known one, so timing does not tell
    which emails have users."""
    if user is None or not has_password(user):
        if not _dummy_hash:
            _dummy_hash.append(hash_password("not-a-password"))
        await asyncio.to_thread(verify_password, _dummy_hash[0], password)
        return False
    return await asyncio.to_thread(verify_password, user.password_hash, password)


@router.post("/login")
async def login(request: Request, session: DbSession, web: Web, form: Form) -> Response:
    email, password = forms.text(form, "email"), forms.text(form, "password")
    target = forms.text(form, "next")
    # Only failures count (users/attempts.py): checked before the password, so a locked-out
    # address learns nothing, and given back after a right one.
    limit = attempts.password_limit(request.app.state)
    keys = attempts.keys(client_address(request), email)
    wait = limit.begin(*keys)
    if wait > 0:
        limited = page(
            request,
            "login.html",
            status=429,
            form={"email": email, "next": target},
            errors={"form": _wait_text(wait)},
        )
        return too_many(wait, limited)
    user = await find_user_by_email(session, email)
    if not await _password_matches(user, password) or user is None:
        return page(
            request,
            "login.html",
            form={"email": email, "next": target},
            errors={"password": "The email or the password is not right."},
        )
    limit.succeeded(*keys)
    accounts = await memberships(session, user)
    if not accounts:
        return page(
            request,
            "login.html",
            form={"email": email, "next": target},
            errors={"email": "This user is not an agent of any account."},
        )
    await web.login(session, user, accounts[0][0].id)
    # Several accounts, or invitations waiting: the user chooses (the first is provisional).
    if not target and (len(accounts) > 1 or await invitations_of(session, user)):
        target = "/app/accounts"
    return redirect(request, safe_next(target))


@router.post("/logout")
async def logout(request: Request, session: DbSession, web: Web, form: Form) -> Response:
    await web.logout(session)
    return redirect(request, "/", "You are logged out.")


@router.post("/app/account")
async def switch_account(request: Request, viewer: CurrentViewer, form: Form) -> Response:
    wanted = forms.number(form, "account_id")
    if wanted not in [account.id for account, _ in viewer.accounts]:
        return error_page(request, 404, "You are not an agent of that account.")
    assert viewer.web.session_id is not None  # current_viewer looked the session up
    await move_session(viewer.session, viewer.web.session_id, wanted)
    return redirect(request, HOME)


# -- the user's own password -----------------------------------------------------------------


@router.post("/app/profile/password")
async def password_change(request: Request, viewer: CurrentViewer, form: Form) -> Response:
    """Ends every other session of the user; the API token is kept unless `rotate_token`."""
    limit = attempts.change_limit(request.app.state)
    keys = (attempts.change_key(viewer.user.id),)
    wait = limit.begin(*keys)
    if wait > 0:
        errors = {"current_password": _wait_text(wait, "wrong passwords")}
        return too_many(wait, page(request, "profile.html", viewer, status=429, errors=errors))
    try:
        await change_password(
            viewer.session,
            viewer.user,
            forms.text(form, "current_password"),
            forms.text(form, "password"),
            forms.text(form, "password_confirmation"),
            keep_session=viewer.web.session_id,
        )
    except ApiError as exc:
        if exc.field != "current_password":
            limit.succeeded(*keys)  # the current password was right: not a guess
        errors = forms.api_errors(exc, "password")
        raise Rendered(page(request, "profile.html", viewer, errors=errors)) from exc
    limit.succeeded(*keys)
    done = "Your password is changed; your other sessions have ended."
    if forms.text(form, "rotate_token") != "on":
        return redirect(request, "/app/profile", done)
    token = await replace_tokens(viewer.session, viewer.user)
    viewer.web.flash(done)
    return page(request, "profile.html", viewer, token=token)


# -- the set-password link -------------------------------------------------------------------


def _links(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        request.app.state.settings.resolved_secret_key(), salt="voxsig.dashboard.password"
    )


def password_link(request: Request, user: User) -> str:
    """A link that lets `user` choose a password: it carries the current password's
    fingerprint, so it works once, and for LINK_DAYS days."""
    token = _links(request).dumps({"u": user.id, "p": fingerprint(user)})
    return f"{str(request.base_url).rstrip('/')}/set-password/{token}"


async def user_of_link(
    session: DbSession, links: URLSafeTimedSerializer, token: str
) -> User | None:
    """The user a signed link names, while it is younger than LINK_DAYS and the user's password
    is the one it was made for (so it works once)."""
    try:
        data = links.loads(token, max_age=LINK_DAYS * 86400)
    except BadSignature:
        return None
    user = await session.get(User, data["u"]) if isinstance(data, dict) else None
    return user if user is not None and data.get("p") == fingerprint(user) else None


async def _link_user(request: Request, session: DbSession, token: str) -> User:
    user = await user_of_link(session, _links(request), token)
    if user is None:
        raise Rendered(
            error_page(
                request,
                404,
                "This link is not valid any more: it was used already, or it is older than "
                f"{LINK_DAYS} days. Ask an administrator for a new one.",
            )
        )
    return user


@router.get("/set-password/{token}")
async def password_form(request: Request, session: DbSession, token: str) -> Response:
    user = await _link_user(request, session, token)
    return page(request, "set_password.html", user=user, token=token, errors={})


@router.post("/set-password/{token}")
async def password_set(
    request: Request, session: DbSession, web: Web, form: Form, token: str
) -> Response:
    user = await _link_user(request, session, token)
    password = forms.text(form, "password")
    errors: forms.Errors = {}
    if password != forms.text(form, "password_confirmation"):
        errors["password_confirmation"] = "The two passwords differ"  # noqa: S105
    else:
        try:
            await set_password(session, user, password)  # ends every session of the user
        except ApiError as exc:
            errors = forms.api_errors(exc, "password")
    if errors:
        raise Rendered(page(request, "set_password.html", user=user, token=token, errors=errors))
    accounts = await memberships(session, user)
    if not accounts:
        return redirect(request, "/", "Your password is set.")
    await web.login(session, user, accounts[0][0].id)
    return redirect(request, HOME, f"Welcome, {user.name}! Your password is set.")
