"""What a visitor's request says about their browser: the `browser` object and
`browser_language` of webwidget_triggered and of a widget conversation's additional_attributes,
read on the server from User-Agent and Accept-Language (the widget cannot be trusted to)."""

from __future__ import annotations

from typing import Any

import ua_parser

UNKNOWN = "Unknown"
MAX_HEADER = 1024  # longer headers are cut before parsing: regexes on huge input are slow


def _version(*parts: str | None) -> str:
    return ".".join(p for p in parts if p)


def browser_info(user_agent: str | None) -> dict[str, str]:
    """{browser_name, browser_version, device_name, platform_name, platform_version}; a part
    the User-Agent does not tell is "Unknown" (names) or "" (versions)."""
    parsed: Any = ua_parser.parse((user_agent or "")[:MAX_HEADER])
    agent, system, device = parsed.user_agent, parsed.os, parsed.device
    return {
        "browser_name": agent.family if agent else UNKNOWN,
        "browser_version": _version(agent.major, agent.minor, agent.patch) if agent else "",
        "device_name": device.family if device else UNKNOWN,
        "platform_name": system.family if system else UNKNOWN,
        "platform_version": _version(system.major, system.minor, system.patch) if system else "",
    }


def browser_language(accept_language: str | None) -> str:
    """The language code of the most preferred entry: "de-CH,de;q=0.9,en;q=0.8" -> "de"."""
    best, best_q = "", -1.0
    for entry in (accept_language or "")[:MAX_HEADER].split(","):
        tag, _, params = entry.strip().partition(";")
        code = tag.strip().split("-")[0].lower()
        if not code.isalpha() or not 2 <= len(code) <= 8:
            continue  # "*" and junk
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        if q > best_q:
            best, best_q = code, q
    return best
