"""Jinja filters: times as people read them, JSON as people read it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment

from voxsig.kit.clock import as_utc, utcnow


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


def attribute(value: Any) -> str:
    """An additional attribute as one readable line: the widget's browser object as
    "Firefox 128 on Linux", other nested objects as "key: value" pairs."""
    if isinstance(value, dict) and value.get("browser_name"):
        browser = " ".join(str(value.get(k) or "") for k in ("browser_name", "browser_version"))
        platform = " ".join(str(value.get(k) or "") for k in ("platform_name", "platform_version"))
        device = str(value.get("device_name") or "")
        text = browser.strip() + (f" on {platform.strip()}" if platform.strip() else "")
        return text + (f" ({device})" if device and device.lower() != "unknown" else "")
    if isinstance(value, dict):
        return ", ".join(f"{k}: {attribute(v)}" for k, v in value.items() if v not in ("", None))
    if isinstance(value, list):
        return ", ".join(attribute(v) for v in value)
    return "" if value is None else str(value)


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


def install(env: Environment) -> None:
    env.globals["query"] = query
    env.filters.update(
        ago=ago,
        when=when,
        iso=iso,
        pretty_json=pretty_json,
        attribute=attribute,
        percent=percent,
        duration=duration,
    )
