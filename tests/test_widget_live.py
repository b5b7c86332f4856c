"""The Widget API's live stream over HTTP: replies and status changes reach the visitor, nothing
private or foreign does, and the stream needs a valid visitor."""

from __future__ import annotations

import httpx

from tests.conftest import Backend
from tests.support.client import JSON, ApiClient
from tests.support.factories import post_message
from tests.support.widget import LiveStream, WidgetVisitor, visit


def test_the_live_stream_brings_replies_and_status_but_nothing_private_or_foreign(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    alice, bob = visit(backend, inbox, visitors), visit(backend, inbox, visitors)
    alice_conversation = alice.say("hello")["conversation_id"]
    stream = LiveStream(alice)
    other = LiveStream(bob)
    try:
        post_message(api, alice_conversation, "a private note", private=True)
        reply = post_message(api, alice_conversation, "Hi Alice!")
        kind, data = stream.next()
        assert (kind, data["id"], data["content"]) == ("message.created", reply["id"], "Hi Alice!")
        assert data["sender"]["type"] == "user"
        api.post(f"conversations/{alice_conversation}/toggle_status", json={"status": "resolved"})
        kind, data = stream.next()
        assert (kind, data["id"], data["status"]) == (
            "conversation.updated",
            alice_conversation,
            "resolved",
        )
        edited = api.patch(f"messages/{reply['id']}", json={"content": "Hi Alice :)"})
        assert edited.status_code == 200
        kind, data = stream.next()
        assert (kind, data["content"]) == ("message.updated", "Hi Alice :)")

        bob.say("bob here")
        kinds = [other.next()[0], other.next()[0]]
        assert sorted(kinds) == ["conversation.created", "message.created"]
        # Signals reach a stream in order: had bob's leaked, they would come before this.
        sentinel = post_message(api, alice_conversation, "sentinel")
        kind, data = stream.next()
        assert (kind, data["id"]) == ("message.created", sentinel["id"])
        assert other.events.empty(), "bob's stream carried alice's message"
    finally:
        stream.close()
        other.close()


def test_the_live_stream_needs_a_valid_visitor(
    api: ApiClient, backend: Backend, inbox: JSON
) -> None:
    url = f"{backend.url}/api/v1/widget/live"
    refused = httpx.get(url, params={"website_token": inbox["website_token"], "auth_token": "x"})
    assert refused.status_code == 401
    missing = httpx.get(url, params={"website_token": inbox["website_token"]})
    assert missing.status_code == 401
