"""Jinja filters: times as people read them, JSON as people read it."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment
from markupsafe import Markup, escape

from voxsig.dashboard.interactive import offered
from voxsig.kit.clock import as_utc, utcnow
from voxsig.messages.attachments import THUMB_SIDE

# An ISO 8601 moment with its time (what the widget stores in initiated_at.timestamp).
ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")
SHORT_ADDRESS = 60  # characters of a web address's host and path shown; the rest in its title


def ago(moment: datetime | None) -> str:
    """ "3 min ago": a list is scanned for recency, not for exact times."""
    if moment is None:
        return "never"
    seconds = max(0, int((utcnow() - as_utc(moment)).total_seconds()))
    if seconds < 60:
        return "just now"
    for size, unit in ((86400 * 365, "y"), (86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def when(moment: datetime | None) -> str:
    return "" if moment is None else as_utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(moment: datetime | None) -> str:
    return "" if moment is None else as_utc(moment).isoformat()


def pretty_json(text: str | None) -> str:
    """A stored request body, indented; anything that is not JSON is shown as it is."""
    if not text:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        # Bodies stored before the depth limits can be too deep to indent: shown as stored.
        return text


def moment(value: datetime) -> str:
    """ "2 Dec 2026, 00:32 UTC": a date people read, in the one zone the dashboard shows."""
    at = as_utc(value)
    return f"{at.day} {at:%b %Y, %H:%M} UTC"


def attribute(value: Any) -> Markup:
    """An additional attribute as one readable line (escaped HTML): the widget's browser object
    as "Firefox 128 on Linux", a timestamp (`initiated_at`'s) as a date, a web address as a
    link that shows its host and path (the whole address, tokens in its query included, only
    in the link and its tooltip), other nested objects as "key: value" pairs."""
    if isinstance(value, dict) and value.get("browser_name"):
        browser = " ".join(str(value.get(k) or "") for k in ("browser_name", "browser_version"))
        platform = " ".join(str(value.get(k) or "") for k in ("platform_name", "platform_version"))
        device = str(value.get("device_name") or "")
        text = browser.strip() + (f" on {platform.strip()}" if platform.strip() else "")
        return escape(text + (f" ({device})" if device and device.lower() != "unknown" else ""))
    if isinstance(value, dict) and list(value) == ["timestamp"]:
        return attribute(value["timestamp"])
    if isinstance(value, dict):
        shown = [(k, attribute(v)) for k, v in value.items() if v not in ("", None)]
        return Markup(", ").join(Markup("{}: {}").format(k, v) for k, v in shown)
    if isinstance(value, list):
        return Markup(", ").join(attribute(v) for v in value)
    if isinstance(value, str):
        return _timestamp(value) or _address(value) or escape(value)
    return escape("" if value is None else str(value))


def _timestamp(text: str) -> Markup | None:
    if not ISO_MOMENT.match(text):
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return Markup('<time datetime="{}" title="{}">{}</time>').format(text, when(at), moment(at))


def _address(text: str) -> Markup | None:
    """An http(s) URL as a short link; anything else (javascript:, data:) is not one."""
    if not text.startswith(("http://", "https://")) or any(c.isspace() for c in text):
        return None
    try:
        parts = urlsplit(text)
        host = parts.netloc.rpartition("@")[2]  # never show a user:password
    except ValueError:
        return None
    if not host:
        return None
    whole = parts._replace(netloc=host).geturl()
    shown = host + (parts.path if parts.path != "/" else "")
    if len(shown) > SHORT_ADDRESS:
        shown = shown[: SHORT_ADDRESS - 1] + "…"
    return Markup(
        '<a href="{}" title="{}" rel="noopener noreferrer nofollow" target="_blank">{}</a>'
    ).format(whole, whole, shown)


def duration(seconds: float | None) -> str:
    """ "about 13 min": an estimate, so a rounded figure."""
    if seconds is None:
        return "unknown"
    if seconds < 90:
        return f"{max(0, round(seconds))} s"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} min"
    if seconds < 36 * 3600:
        return f"about {seconds / 3600:.1f} h"
    return f"about {seconds / 86400:.1f} days"


def percent(rate: float | None) -> str:
    return "no attempts" if rate is None else f"{rate * 100:.0f}%"


def query(base: dict[str, Any], **changes: Any) -> str:
    """A query string from the current filters with some changed; empty values left out."""
    merged = {**base, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in ("", None)})


def file_size(size: int | None) -> str:
    """ "12.3 KB": a file's size as people read it (1 KB = 1024 bytes, as file managers say)."""
    if size is None:
        return ""
    if size < 1024:
        return f"{size} B"
    amount = size / 1024
    for unit in ("KB", "MB"):
        if amount < 1024:
            return f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GB"


def files_line(names: list[str]) -> str:
    """ "📎 invoice.pdf and 1 more file": a message without text, by its files' names."""
    if not names:
        return ""
    more = len(names) - 1
    rest = f" and {more} more file{'s' if more > 1 else ''}" if more else ""
    return f"📎 {names[0]}{rest}"


def attachments_line(attachments: list[dict[str, Any]]) -> str:
    return files_line([str(a.get("file_name") or "file") for a in attachments])


def local_link(url: str) -> str:
    """A file link (absolute, on the configured public URL) as a path on this server: the
    dashboard loads files from its own origin, whatever address it is opened by, and its CSP
    allows no other."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def thumb_box(attachment: dict[str, Any], side: int = THUMB_SIDE) -> tuple[int, int] | None:
    """The width and height an image's thumbnail is shown at (within `side`, as stored), so
    the thread keeps its layout while images load; None when its size is not known."""
    width, height = attachment.get("width"), attachment.get("height")
    if not (isinstance(width, int) and isinstance(height, int)) or width < 1 or height < 1:
        return None
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def install(env: Environment) -> None:
    env.globals["query"] = query
    env.filters.update(
        ago=ago,
        when=when,
        iso=iso,
        pretty_json=pretty_json,
        attribute=attribute,
        offered=offered,
        percent=percent,
        duration=duration,
        file_size=file_size,
        attachments_line=attachments_line,
        local_link=local_link,
        thumb_box=thumb_box,
    )
