"""Factories for what a test needs before its action: inboxes, contacts, conversations, messages
and webhook subscriptions, each made over the API as a user would; and `settle`, which proves
that every delivery of an action has arrived."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tests.support.client import JSON, ApiClient, ok, unique_email
from tests.support.receiver import Received, Receiver
from tests.support.waiting import wait_until
from tests.support.webhook_schema import EVENTS

INCOMING, OUTGOING, ACTIVITY = 0, 1, 2  # message_type as the API answers it


@dataclass
class Setup:
    inbox_id: int
    contact_id: int
    conversation_id: int


def api_inbox(api: ApiClient, name: str = "API") -> JSON:
    inbox: JSON = ok(api.post("inboxes", json={"name": name, "channel": {"type": "api"}}))
    return inbox


def widget_inbox(api: ApiClient, name: str = "Website", **channel: Any) -> JSON:
    """A website (web widget) inbox; `channel` overrides its settings."""
    body = {
        "name": name,
        "channel": {
            "type": "web_widget",
            "website_url": "https://shop.example",
            "widget_color": "#0b7a75",
            "welcome_title": "Hi there",
            "welcome_tagline": "We usually reply in minutes",
            **channel,
        },
    }
    inbox: JSON = ok(api.post("inboxes", json=body))
    return inbox


def new_contact(api: ApiClient, inbox_id: int | None = None, **fields: Any) -> JSON:
    """POST contacts; returns the whole payload ({contact, contact_inbox})."""
    body = {"name": "Bob Buyer", **fields}
    if inbox_id is not None:
        body["inbox_id"] = inbox_id
    payload: JSON = ok(api.post("contacts", json=body))["payload"]
    return payload


def create_conversation(api: ApiClient, inbox_id: int, contact_id: int, **extra: Any) -> JSON:
    """POST conversations; returns the conversation."""
    body = {"inbox_id": inbox_id, "contact_id": contact_id, **extra}
    conversation: JSON = ok(api.post("conversations", json=body))
    return conversation


def new_conversation(api: ApiClient, inbox_id: int | None = None) -> Setup:
    """A conversation with a new contact, Bob, in `inbox_id` (or a new API inbox)."""
    inbox_id = inbox_id or api_inbox(api)["id"]
    contact_id = new_contact(api, inbox_id, name="Bob")["contact"]["id"]
    conversation = create_conversation(api, inbox_id, contact_id)
    return Setup(inbox_id, contact_id, conversation["id"])


def setup_thread(api: ApiClient, contact_name: str = "Bob Buyer") -> tuple[JSON, JSON, JSON]:
    """An API inbox, a contact in it and an open conversation: (inbox, contact, conversation)."""
    inbox = api_inbox(api)
    contact = new_contact(api, inbox["id"], name=contact_name, email=unique_email("bob"))
    conversation = create_conversation(api, inbox["id"], contact["contact"]["id"])
    return inbox, contact["contact"], conversation


def post_message(api: ApiClient, conversation_id: int, content: str, **extra: Any) -> JSON:
    """A message in the conversation (by default the agent's, outgoing)."""
    body = {"content": content, **extra}
    message: JSON = ok(api.post(f"conversations/{conversation_id}/messages", json=body))
    return message


def messages_of(api: ApiClient, conversation_id: int, **params: Any) -> list[JSON]:
    listed = ok(api.get(f"conversations/{conversation_id}/messages", params=params))
    payload: list[JSON] = listed["payload"]
    return payload


def activity_of(api: ApiClient, conversation_id: int) -> list[str]:
    """The contents of the conversation's activity messages, oldest first."""
    messages = messages_of(api, conversation_id)
    return [m["content"] for m in messages if m["message_type"] == ACTIVITY]


def conversation_ids(api: ApiClient, **params: Any) -> list[int]:
    """The numbers of the conversations that GET conversations lists with `params`, sorted."""
    body = ok(api.get("conversations", params=params))
    return sorted(c["id"] for c in body["data"]["payload"])


def subscribe(
    api: ApiClient,
    receiver: Receiver,
    path: str,
    events: list[str] | None = None,
    inbox_id: int | None = None,
    payload_format: str | None = None,
) -> JSON:
    """An account webhook to `receiver` at `path`, for `events` (by default the six of the
    seed), in `payload_format` (by default the server's): the receiver then checks every body
    arriving there against the schema the server serves for the format the webhook answers."""
    body: JSON = {"url": receiver.url(path), "subscriptions": events or EVENTS}
    if inbox_id is not None:
        body["inbox_id"] = inbox_id
    if payload_format is not None:
        body["payload_format"] = payload_format
    webhook: JSON = ok(api.post("webhooks", json=body))["payload"]["webhook"]
    receiver.expect_format(path, webhook["payload_format"], api.url)
    return webhook


def events_of(requests: list[Received]) -> list[str]:
    return [r.json()["event"] for r in requests]


def by_event(requests: list[Received], name: str) -> list[JSON]:
    return [r.json() for r in requests if r.json()["event"] == name]


def settle(
    receiver: Receiver, api: ApiClient, setup: Setup, path: str, since: int
) -> list[Received]:
    """Fires a sentinel (a new message), waits for it, and returns what arrived at `path` from
    request number `since` (counted before the action under test) up to it: with deliveries of
    one conversation in order, proof that nothing else is on its way."""
    marker = f"sentinel-{time.monotonic_ns()}"
    post_message(api, setup.conversation_id, marker)

    def arrived() -> bool:
        return any(r.json().get("content") == marker for r in receiver.requests(path)[since:])

    wait_until(arrived, 10, lambda: "the sentinel message_created never arrived", step=0.02)
    time.sleep(0.3)  # anything sent earlier has had time to land too
    return [r for r in receiver.requests(path)[since:] if r.json().get("content") != marker]
