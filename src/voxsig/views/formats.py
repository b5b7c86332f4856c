"""Payload formats: an event's body in the shapes an endpoint asked for.

`voxsig` is the seed document's (what views/payloads.py builds); `chatwoot` is what Chatwoot's
own server sends, derived from it here, so both describe one state of the same objects.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from voxsig.kit.clock import iso
from voxsig.models.message import MESSAGE_TYPES
from voxsig.models.webhook import CHATWOOT_FORMAT, VOXSIG_FORMAT

JSON = dict[str, Any]
TYPE_NAMES = {number: name for name, number in MESSAGE_TYPES.items()}
MESSAGE_EVENTS = ("message_created", "message_updated")


def _iso_of_unix(seconds: int) -> str:
    return iso(datetime.fromtimestamp(seconds, UTC))


def chatwoot(name: str, payload: JSON) -> JSON:
    """Chatwoot's body of event `name` from the `voxsig` one. At the top level of a message
    event, `message_type` is the name ("outgoing") and `created_at` ISO 8601 (Rails' JSON of the
    record); the messages nested in `conversation.messages[]` keep the integer and unix forms
    (Chatwoot's push_event_data)."""
    body = dict(payload)
    if name in MESSAGE_EVENTS:
        kind = body.get("message_type")
        if isinstance(kind, int) and kind in TYPE_NAMES:
            body["message_type"] = TYPE_NAMES[kind]
        created = body.get("created_at")
        if isinstance(created, int):
            body["created_at"] = _iso_of_unix(created)
    return body


def in_format(name: str, payload: JSON) -> Callable[[str], JSON]:
    """The event's body in a given format, for outbox.publish (computed only if asked)."""

    def render(payload_format: str) -> JSON:
        if payload_format == CHATWOOT_FORMAT:
            return chatwoot(name, payload)
        assert payload_format == VOXSIG_FORMAT, payload_format
        return payload

    return render
