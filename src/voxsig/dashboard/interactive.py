"""What an interactive message offered the contact and what they chose, for the thread to show
read-only: plain strings the template escapes, built from `content_attributes` that a bot or an
integration wrote and a contact answered (any JSON within the API's limits, so every shape is
checked here and anything unexpected is left out rather than shown raw)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from voxsig.models import Message

HEADINGS = {
    "input_select": "Options offered",
    "cards": "Cards offered",
    "form": "Form fields",
    "article": "Articles offered",
    "input_email": "Asked for an email address",
    "input_csat": "Asked for a satisfaction rating (1 to 5)",
    "input_text": "Asked for text",
    "input_textarea": "Asked for text",
}
ENTRIES = 50  # items shown of one message; a bot's list longer than that is cut
CSAT = "csat_survey_response"


@dataclass(frozen=True)
class Action:
    kind: str  # "Link" or "Button" (a postback, or a type the widget does not offer)
    text: str
    target: str  # the link's address or the postback's payload, as text
    link: str | None = None  # only an http(s) address


@dataclass(frozen=True)
class Entry:
    title: str
    detail: str = ""
    link: str | None = None  # only an http(s) address
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class Offered:
    heading: str
    entries: tuple[Entry, ...]
    chose: tuple[str, ...]  # the contact's answer, one line per value


def offered(message: Message) -> Offered | None:
    """None for a plain text message; else what the thread shows under its content."""
    kind = message.content_type
    if kind == "text":
        return None
    attributes = message.content_attributes or {}
    heading = HEADINGS.get(kind, kind.replace("_", " "))
    entries = tuple(_entries(kind, _objects(attributes.get("items"))))
    return Offered(heading, entries, tuple(_chose(attributes.get("submitted_values"))))


def _objects(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)][:ENTRIES]


def _text(value: Any) -> str:
    """A scalar as text; a container as compact JSON (shown, escaped, never interpreted)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _web_address(value: Any) -> str | None:
    """`value` when it is an absolute http(s) address with a host, else None: a javascript:
    or data: "link" is shown as text, never as a link."""
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return value


def _entries(kind: str, items: list[dict[str, Any]]) -> list[Entry]:
    if kind == "input_select":
        return [_option(item) for item in items]
    if kind == "cards":
        return [_card(item) for item in items]
    if kind == "form":
        return [_field(item) for item in items]
    if kind == "article":
        return [_article(item) for item in items]
    return []


def _option(item: dict[str, Any]) -> Entry:
    title, value = _text(item.get("title")), _text(item.get("value"))
    return Entry(title or value, value if value and value != title else "")


def _card(item: dict[str, Any]) -> Entry:
    actions = tuple(_action(action) for action in _objects(item.get("actions")))
    return Entry(_text(item.get("title")), _text(item.get("description")), actions=actions)


def _action(action: dict[str, Any]) -> Action:
    if action.get("type") == "link":
        uri = _text(action.get("uri"))
        return Action("Link", _text(action.get("text")) or uri, uri, _web_address(uri))
    payload = _text(action.get("payload"))
    return Action("Button", _text(action.get("text")) or payload, payload)


def _field(item: dict[str, Any]) -> Entry:
    label = _text(item.get("label")) or _text(item.get("name"))
    details = [_text(item.get("type")) or "text"]
    if item.get("required"):
        details.append("required")
    choices = _objects(item.get("options"))
    options = [_text(o.get("label")) or _text(o.get("value")) for o in choices]
    if options:
        details.append("options: " + ", ".join(options))
    return Entry(label, " · ".join(details))


def _article(item: dict[str, Any]) -> Entry:
    link = _text(item.get("link"))
    title = _text(item.get("title")) or link
    return Entry(title, _text(item.get("description")), _web_address(link))


def _chose(values: Any) -> list[str]:
    """The answer as lines: a CSAT rating and its feedback, a choice's title (and its value when
    it differs), a form field's "label: value", any other object's "key: value" pairs."""
    if values is None or values == [] or values == {}:
        return []
    if isinstance(values, dict) and isinstance(values.get(CSAT), dict):
        return _rating(values[CSAT])
    if isinstance(values, dict):
        return [f"{_text(key)}: {_text(value)}" for key, value in values.items()]
    listed = values if isinstance(values, list) else [values]
    return [_answer(value) for value in listed[:ENTRIES]]


def _rating(response: dict[str, Any]) -> list[str]:
    rated = f"Rated {_text(response.get('rating'))} of 5"
    feedback = _text(response.get("feedback_message"))
    return [rated, f"Feedback: {feedback}"] if feedback else [rated]


def _answer(value: Any) -> str:
    if not isinstance(value, dict):
        return _text(value)
    title, chosen = _text(value.get("title")), _text(value.get("value"))
    if value.get("name") is not None:
        return f"{title or _text(value.get('name'))}: {chosen}"  # a form field
    if title and chosen and chosen != title:
        return f"{title} ({chosen})"
    return title or chosen
