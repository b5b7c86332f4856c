"""Pages and files a browser loads: the SDK a website embeds (/packs/js/sdk.js), the iframe
page it opens (/widget), that page's assets, and a preview page (/widget/preview) showing a
sample website with an inbox's widget. Files are read from the package once and served gzipped
to browsers that accept it, with an ETag."""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated

import jinja2
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from voxsig.deps import DbSession
from voxsig.errors import ApiError, NotFound
from voxsig.inboxes.schemas import embed_script
from voxsig.inboxes.website import website_host
from voxsig.models.inbox import WEB_WIDGET
from voxsig.public.service import inbox_named

STATIC = Path(__file__).parent / "static"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
ASSETS = ("widget.js", "widget.css")
CACHE = "public, max-age=300"
# The iframe page may be framed by any website; everything else comes from this server.
# Images: this server's (attachments), https ones (bots' cards; files in an object store,
# where /files/ redirects) and blob: (previews of files the visitor has not sent yet); audio
# and video: this server's, or an object store's over https.
WIDGET_CSP = (
    "default-src 'self'; img-src 'self' data: https: blob:; media-src 'self' https:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors *"
)
# What a base URL taken from the request's Host header may look like before it goes into HTML.
SAFE_BASE = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+/?$")

router = APIRouter(tags=["widget"], include_in_schema=False)
templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(STATIC), autoescape=True, keep_trailing_newline=True
)


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str
    media_type: str


@cache
def asset(name: str) -> Asset:
    body = (STATIC / name).read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    media_type = TYPES.get(Path(name).suffix, "text/html; charset=utf-8")
    return Asset(body, gzip.compress(body, 9, mtime=0), etag, media_type)


def _serve(request: Request, name: str, headers: dict[str, str] | None = None) -> Response:
    found = asset(name)
    headers = {"ETag": found.etag, "Vary": "Accept-Encoding", **(headers or {})}
    headers.setdefault("Cache-Control", CACHE)
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(found.gzipped, media_type=found.media_type, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)


@router.get("/packs/js/sdk.js")
async def sdk(request: Request) -> Response:
    return _serve(request, "sdk.js")


@router.get("/widget")
async def widget_page(request: Request) -> Response:
    """The iframe: static HTML whose script reads website_token from its own URL."""
    return _serve(
        request,
        "widget.html",
        {"Content-Security-Policy": WIDGET_CSP, "Cache-Control": "no-cache"},
    )


@router.get("/widget/assets/{name}")
async def widget_asset(request: Request, name: str) -> Response:
    if name not in ASSETS:
        raise NotFound(f"No widget asset {name}", field="name")
    return _serve(request, name)


@router.get("/widget/preview", response_class=HTMLResponse)
async def preview(
    request: Request, session: DbSession, website_token: Annotated[str, Query(max_length=64)]
) -> HTMLResponse:
    """A sample website with this inbox's widget, embedded by the very snippet the inbox's API
    response gives, so a new user sees it working at once."""
    inbox = await inbox_named(session, WEB_WIDGET, website_token)
    base = str(request.base_url)
    if not SAFE_BASE.match(base):
        raise ApiError("The Host header of this request is not a plain host name", field="host")
    html = templates.get_template("preview.html").render(
        inbox=inbox,
        site=website_host(inbox.website_url) or "your-website.example",
        snippet=embed_script(inbox, base),
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
