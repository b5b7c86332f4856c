"""Files for attachment tests, made here (never checked in): a real PNG and JPEG from Pillow,
a small PDF, an SVG that would run script, and a helper that posts a message with files."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from tests.support.client import ApiClient

# A PDF that filetype recognises (its %PDF- magic) and readers open.
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
# If this ran in Voxsig's origin it would leave a mark the test can read.
SVG_WITH_SCRIPT = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>document.cookie='pwned=1; path=/';"
    b"window.top.postMessage('pwned','*');</script></svg>"
)


def png(width: int = 640, height: int = 480, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def jpeg(width: int = 800, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 120, 200)).save(out, format="JPEG", quality=80)
    return out.getvalue()


def post_files(
    api: ApiClient,
    conversation_id: int,
    files: list[tuple[str, bytes]],
    **fields: str,
) -> httpx.Response:
    """POST a message as multipart/form-data: `files` as attachments[], `fields` as text."""
    parts: list[tuple[str, Any]] = [
        ("attachments[]", (name, data, "application/octet-stream")) for name, data in files
    ]
    return api.post(
        f"conversations/{conversation_id}/messages", data=fields or None, files=parts or None
    )


def stored_files(data_dir: Path) -> list[Path]:
    """Every file in a local store (the data dir's files/), partial uploads included."""
    root = data_dir / "files"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
