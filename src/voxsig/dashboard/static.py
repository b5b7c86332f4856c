"""The dashboard's own CSS, JavaScript and icon, shipped in the package: nothing is loaded
from another site."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from voxsig.dashboard.web import HERE

router = APIRouter(include_in_schema=False)

FILES = {
    "app.css": "text/css",
    "app.js": "text/javascript",
    "notify.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
}


@router.get("/app/static/{name}")
async def static_file(name: str) -> Response:
    if name not in FILES:
        return Response("Not found", status_code=404, media_type="text/plain")
    # no-cache: revalidated (ETag) on each load, so a new version is picked up at once.
    return FileResponse(
        HERE / "static" / name, media_type=FILES[name], headers={"cache-control": "no-cache"}
    )
