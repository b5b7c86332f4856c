"""The dashboard's request plumbing: the signed session cookie, CSRF, who is looking, and how
pages and errors are rendered.

Errors inside a dashboard route become HTML pages, and always after the request's transaction
rolled back: a route that wants to show a form with its errors raises `Rendered(response)`, so
nothing half-done is committed while the form is shown again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from voxsig.dashboard import filters
from voxsig.deps import DbSession
from voxsig.errors import ApiError
from voxsig.models import Account, AccountUser, User
from voxsig.models.user import ADMINISTRATOR
from voxsig.users.service import memberships
from voxsig.users.sessions import SESSION_DAYS, end_session, live_session, start_session

COOKIE = "voxsig_session"
HERE = Path(__file__).parent
TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
filters.install(TEMPLATES)

# No inline script or style anywhere, so the policy can forbid both: an injected <script> in a
# message would not run even if escaping ever failed. Images, audio and video only from this
# origin (attachments are linked by path, served by /files/ here; data: for the composer's
# previews of images not yet sent).
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; media-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


class Rendered(Exception):
    """Carries a finished response out of a route; the transaction rolls back on the way."""

    def __init__(self, response: Response) -> None:
        super().__init__("rendered")
        self.response = response


class DashboardRoute(APIRoute):
    """Routes whose errors are pages, not the API's JSON."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Outside FastAPI's dependency stack: the transaction has rolled back by now.
        try:
            await super().handle(scope, receive, send)
        except Rendered as done:
            await done.response(scope, receive, send)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                raise Rendered(error_page(request, exc.status, exc.message)) from exc
            except RequestValidationError as exc:
                raise Rendered(error_page(request, 404, "There is nothing here.")) from exc
            except StarletteHTTPException as exc:
                raise Rendered(error_page(request, exc.status_code, str(exc.detail))) from exc

        return guarded


# -- the session cookie ----------------------------------------------------------------------


def _serializer(request: Request) -> URLSafeTimedSerializer:
    state = request.app.state
    signer: URLSafeTimedSerializer | None = getattr(state, "dashboard_signer", None)
    if signer is None:
        signer = URLSafeTimedSerializer(
            state.settings.resolved_secret_key(), salt="voxsig.dashboard.session"
        )
        state.dashboard_signer = signer
    return signer


def fingerprint(user: User) -> str:
    """Changes with the password: a set-password link carries it, so the link works once."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


@dataclass
class WebSession:
    """What the signed cookie holds: the token of the server-side session (users/sessions.py)
    if someone is logged in, the CSRF token, and flash messages waiting for the next page.
    Signed, not encrypted: it holds nothing secret from its own owner. Who is logged in, and
    whether the session still lives, is only ever read from the database."""

    token: str | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    flashes: list[tuple[str, str]] = field(default_factory=list)
    dirty: bool = False
    # The session row's id, once current_viewer has looked it up (never in the cookie).
    session_id: int | None = None

    async def login(self, db: AsyncSession, user: User, account_id: int) -> None:
        # A new CSRF token too: one seen before the login is worth nothing after it.
        self.token = await start_session(db, user, account_id)
        self.session_id = None
        self.csrf = secrets.token_urlsafe(24)
        self.dirty = True

    async def logout(self, db: AsyncSession) -> None:
        """Ends the session server-side: a copy of the cookie is worth nothing after this."""
        if self.token is not None:
            await end_session(db, self.token)
        self.forget()

    def forget(self) -> None:
        """Anonymous from now on (the session row is gone already, or is being deleted)."""
        self.token = self.session_id = None
        self.csrf = secrets.token_urlsafe(24)
        self.dirty = True

    def flash(self, text: str, kind: str = "ok") -> None:
        self.flashes.append((kind, text))
        self.dirty = True

    def take_flashes(self) -> list[tuple[str, str]]:
        taken, self.flashes = self.flashes, []
        if taken:
            self.dirty = True
        return taken

    def apply(self, request: Request, response: Response) -> None:
        if not self.dirty:
            return
        value = _serializer(request).dumps({"s": self.token, "c": self.csrf, "f": self.flashes})
        response.set_cookie(
            COOKIE,
            value,
            max_age=SESSION_DAYS * 86400,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )


def web_session(request: Request) -> WebSession:
    """The request's session (one object per request), new and anonymous if the cookie is
    missing, forged or expired."""
    cached: WebSession | None = getattr(request.state, "web_session", None)
    if cached is not None:
        return cached
    session = WebSession(dirty=True)
    raw = request.cookies.get(COOKIE)
    if raw:
        try:
            data = _serializer(request).loads(raw, max_age=SESSION_DAYS * 86400)
            token = data.get("s")
            session = WebSession(
                token=token if isinstance(token, str) else None,
                csrf=str(data["c"]),
                flashes=[(str(k), str(t)) for k, t in data.get("f", [])],
            )
        except (BadSignature, KeyError, TypeError, ValueError):
            pass
    request.state.web_session = session
    return session


Web = Annotated[WebSession, Depends(web_session)]


def require_csrf(request: Request, web: WebSession, token: object) -> None:
    """Refuses (403) a posted form unless `token`, its csrf_token field, is this session's:
    every form, urlencoded or multipart (the composer's files), passes here."""
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, i.e. a 500).
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), web.csrf.encode()):
        raise Rendered(
            error_page(
                request,
                403,
                "This form did not come from this session (its security token is missing or "
                "out of date). Go back, reload the page and try again.",
            )
        )


async def checked_form(request: Request, web: Web) -> FormData:
    """The posted form, refused (403) unless it carries this session's CSRF token."""
    form = await request.form()
    require_csrf(request, web, form.get("csrf_token"))
    return form


Form = Annotated[FormData, Depends(checked_form)]


# -- who is looking --------------------------------------------------------------------------


@dataclass
class Viewer:
    session: AsyncSession
    web: WebSession
    user: User
    account: Account
    role: str
    accounts: list[tuple[Account, AccountUser]]

    @property
    def is_admin(self) -> bool:
        return self.role == ADMINISTRATOR


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(request, "/?next=" + quote(target, safe=""))


async def current_viewer(request: Request, session: DbSession, web: Web) -> Viewer:
    if web.token is None:
        raise Rendered(login_redirect(request))
    # One indexed query: the session row with its user, account and role. It finds nothing
    # once the session was ended (logout, a password change, a removal from the account).
    live = await live_session(session, web.token)
    if live is None:
        # Only a page the user opens rewrites the cookie. A fetch of a page being left (its
        # live catch-up, racing the logout that ended the session) would otherwise replace
        # the cookie the logout just set, and the login form's CSRF token with it.
        if request.headers.get("sec-fetch-mode", "navigate") == "navigate":
            web.forget()
            web.flash("Your session has ended. Log in again.", "error")
        raise Rendered(login_redirect(request))
    web.session_id = live.id
    accounts = await memberships(session, live.user)
    return Viewer(session, web, live.user, live.account, live.role, accounts)


async def admin_viewer(
    request: Request, viewer: Annotated[Viewer, Depends(current_viewer)]
) -> Viewer:
    if not viewer.is_admin:
        raise Rendered(
            page(
                request,
                "error.html",
                viewer,
                status=403,
                title="Administrators only",
                message="Only administrators of this account can open this page.",
            )
        )
    return viewer


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]
AdminViewer = Annotated[Viewer, Depends(admin_viewer)]


# -- responses -------------------------------------------------------------------------------


def _finish(request: Request, response: Response) -> Response:
    web_session(request).apply(request, response)
    response.headers.update(SECURITY_HEADERS)
    return response


def page(
    request: Request,
    template: str,
    viewer: Viewer | None = None,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    web = web_session(request)
    html = TEMPLATES.get_template(template).render(
        request=request,
        viewer=viewer,
        csrf=web.csrf,
        flashes=web.take_flashes(),
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    _finish(request, response)
    return response


def redirect(request: Request, url: str, flash: str | None = None) -> RedirectResponse:
    """303 after a form post (the browser then GETs `url`), with an optional message."""
    if flash:
        web_session(request).flash(flash)
    response = RedirectResponse(url, status_code=303)
    _finish(request, response)
    return response


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    titles = {403: "Not allowed", 404: "Not found", 409: "Conflict", 429: "Too many attempts"}
    return page(
        request,
        "error.html",
        None,
        status=status,
        title=titles.get(status, "Something is wrong"),
        message=message,
    )
