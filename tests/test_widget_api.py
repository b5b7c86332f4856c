"""The Widget API over HTTP, as the widget page calls it: visitors, their messages and
conversations, webwidget_triggered, identity verification, isolation between visitors and
inboxes, the live stream, rate limits, and the files a website loads (SDK size included)."""

from __future__ import annotations

import gzip
import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Backend
from tests.support.client import ApiClient
from tests.support.receiver import Receiver
from tests.test_webhook_events import by_event, subscribe
from tests.webhook_schema import validate_event
from voxsig.kit.ratelimit import TokenBuckets
from voxsig.kit.signatures import hmac_hex
from voxsig.widget.browser import browser_info, browser_language

JSON = dict[str, Any]
CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0.0.0 Safari/537.36"
)
SDK_GZIP_LIMIT = 10 * 1024


def new_widget_inbox(api: ApiClient, **channel: Any) -> JSON:
    body = {
        "name": "Website",
        "channel": {
            "type": "web_widget",
            "website_url": "https://shop.example",
            "widget_color": "#0b7a75",
            "welcome_title": "Hi there",
            "welcome_tagline": "We usually reply in minutes",
            **channel,
        },
    }
    response = api.post("inboxes", json=body)
    assert response.status_code == 200, response.text
    inbox: JSON = response.json()
    return inbox


def unique_ip() -> str:
    """A client address of its own (the suite's server trusts X-Forwarded-For from 127.0.0.1),
    so a test that exhausts a bucket leaves the other tests' buckets alone."""
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


class Visitor:
    """One browser's widget: the website token, and the visitor token once config ran."""

    def __init__(self, backend: Backend, website_token: str, token: str | None = None) -> None:
        self.backend = backend
        self.website_token = website_token
        self.ip = unique_ip()
        self.http = httpx.Client(base_url=backend.url, timeout=30.0)
        self.token = token or ""
        self.config: JSON = {}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-Forwarded-For": self.ip, **kwargs.pop("headers", {})}
        if self.token:
            headers.setdefault("X-Auth-Token", self.token)
        params = {"website_token": self.website_token, **kwargs.pop("params", {})}
        return self.http.request(
            method, f"/api/v1/widget/{path}", headers=headers, params=params, **kwargs
        )

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        assert response.status_code in (200, 204), response.text
        return response.json() if response.content else None

    def start(self) -> Visitor:
        self.config = self.ok("POST", "config")
        self.token = self.config["auth_token"]
        return self

    def say(self, content: str, **extra: Any) -> JSON:
        message: JSON = self.ok("POST", "messages", json={"content": content, **extra})
        return message

    def messages(self) -> JSON:
        listed: JSON = self.ok("GET", "messages")
        return listed

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def inbox(api: ApiClient) -> JSON:
    return new_widget_inbox(api)


@pytest.fixture
def visitors(backend: Backend, inbox: JSON) -> Iterator[list[Visitor]]:
    made: list[Visitor] = []
    yield made
    for visitor in made:
        visitor.close()


def visit(backend: Backend, inbox: JSON, visitors: list[Visitor]) -> Visitor:
    visitor = Visitor(backend, inbox["website_token"]).start()
    visitors.append(visitor)
    return visitor


def agent_says(api: ApiClient, conversation_id: int, content: str, **extra: Any) -> JSON:
    response = api.post(
        f"conversations/{conversation_id}/messages", json={"content": content, **extra}
    )
    assert response.status_code == 200, response.text
    message: JSON = response.json()
    return message


# -- visitors -----------------------------------------------------------------------------------


def test_config_starts_a_visitor_and_resumes_it(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[Visitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    config = visitor.config["website_channel_config"]
    assert config["website_token"] == inbox["website_token"]
    assert (config["widget_color"], config["welcome_title"]) == ("#0b7a75", "Hi there")
    assert "hmac_token" not in json.dumps(visitor.config)
    contact = visitor.config["contact"]
    assert str(uuid.UUID(contact["source_id"])) == contact["source_id"]  # a fresh UUID
    assert contact["hmac_verified"] is False
    again = visitor.ok("POST", "config")
    assert again["contact"]["id"] == contact["id"]
    assert again["contact"]["source_id"] == contact["source_id"]
    shown = visitor.ok("GET", "contact")
    assert (shown["id"], shown["source_id"]) == (contact["id"], contact["source_id"])
    agent_view = api.get(f"contacts/{contact['id']}").json()["payload"]
    assert [ci["source_id"] for ci in agent_view["contact_inboxes"]] == [contact["source_id"]]
    other = visit(backend, inbox, visitors)
    assert other.config["contact"]["id"] != contact["id"]


def test_a_visitor_token_is_refused_elsewhere_and_bad_tokens_are_401(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[Visitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    second_inbox = new_widget_inbox(api)
    stranger = Visitor(backend, second_inbox["website_token"], visitor.token)
    visitors.append(stranger)
    for method, path in (("GET", "contact"), ("GET", "messages"), ("POST", "config")):
        refused = stranger.request(method, path)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] == "unauthorized"
    tampered = visitor.token[:-2] + ("AA" if not visitor.token.endswith("AA") else "BB")
    assert visitor.request("GET", "contact", headers={"X-Auth-Token": tampered}).status_code == 401
    anonymous = Visitor(backend, inbox["website_token"])
    visitors.append(anonymous)
    assert anonymous.request("GET", "messages").status_code == 401
    api_inbox = api.post("inboxes", json={"name": "API", "channel": {"type": "api"}}).json()
    for website_token in ("no-such-token", api_inbox["inbox_identifier"]):
        missing = Visitor(backend, website_token).request("POST", "config")
        assert missing.status_code == 404, missing.text
        assert missing.json()["errors"][0]["field"] == "website_token"


def test_a_deleted_visitor_gets_a_new_identity_on_config(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[Visitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    assert api.delete(f"contacts/{visitor.config['contact']['id']}").status_code == 200
    assert visitor.request("GET", "contact").status_code == 401
    renewed = visitor.ok("POST", "config")
    # Row ids may be reused (SQLite): the token names the source_id too, which never is.
    assert renewed["contact"]["source_id"] != visitor.config["contact"]["source_id"]
    visitor.token = renewed["auth_token"]
    assert visitor.ok("GET", "contact")["source_id"] == renewed["contact"]["source_id"]


# -- messages and conversations -------------------------------------------------------------------


def test_the_first_message_starts_a_conversation_with_the_browser_details(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[Visitor], receiver: Receiver
) -> None:
    subscribe(api, receiver, "/w")
    visitor = visit(backend, inbox, visitors)
    assert visitor.messages() == {"conversation": None, "payload": []}
    headers = {"User-Agent": CHROME_LINUX, "Accept-Language": "de-CH,de;q=0.9,en;q=0.8"}
    first = visitor.ok(
        "POST",
        "messages",
        json={"content": "Hello?", "echo_id": "e1", "referer": "https://shop.example/pricing"},
        headers=headers,
    )
    assert (first["content"], first["message_type"], first["echo_id"]) == ("Hello?", 0, "e1")
    assert first["sender"] == {
        "id": visitor.config["contact"]["id"],
        "name": visitor.config["contact"]["name"],
        "type": "contact",
    }
    second = visitor.say("Anyone there?")
    assert second["conversation_id"] == first["conversation_id"]
    got = receiver.wait_for(3, "/w")
    for request in got:
        validate_event(request.json())
    (created,) = by_event(got, "conversation_created")
    attributes = created["additional_attributes"]
    assert attributes["browser"] == {
        "browser_name": "Chrome",
        "browser_version": "140.0.0",
        "device_name": "Unknown",
        "platform_name": "Linux",
        "platform_version": "",
    }
    assert attributes["referer"] == "https://shop.example/pricing"
    assert attributes["browser_language"] == "de"
    assert attributes["initiated_at"]["timestamp"].endswith("Z")
    assert created["channel"] == "Channel::WebWidget"
    assert created["contact_inbox"]["source_id"] == visitor.config["contact"]["source_id"]
    message = by_event(got, "message_created")[0]
    assert (message["message_type"], message["sender"]["type"]) == (0, "contact")
    agent_view = api.get(f"conversations/{first['conversation_id']}").json()
    assert agent_view["additional_attributes"] == attributes


def test_visitors_see_their_messages_but_no_private_notes(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[Visitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    conversation_id = visitor.say("My order is late")["conversation_id"]
    agent_says(api, conversation_id, "Customer seems upset", private=True)
    reply = agent_says(api, conversation_id, "Sorry! Let me check.")
    listed = visitor.messages()
    assert [m["content"] for m in listed["payload"]] == ["My order is late", "Sorry! Let me check."]
    assert listed["conversation"]["id"] == conversation_id
    assert listed["payload"][1]["sender"]["type"] == "user"
    assert "email" not in listed["payload"][1]["sender"]
    after = visitor.ok("GET", "messages", params={"after": reply["id"] - 1})["payload"]
    assert [m["id"] for m in after] == [reply["id"]]
    before = visitor.ok("GET", "messages", params={"before": reply["id"]})["payload"]
    assert [m["content"] for m in before] == ["My order is late"]


def test_one_visitor_cannot_reach_another_visitors_messages(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[Visitor]
) -> None:
    alice, bob = visit(backend, inbox, visitors), visit(backend, inbox, visitors)
    secret = alice.say("my address is 1 Main St")
    question = agent_says(
        api,
        secret["conversation_id"],
        "Which size?",
        content_type="input_select",
        content_attributes={"items": [{"title": "S", "value": "s"}]},
    )
    assert bob.messages() == {"conversation": None, "payload": []}
    assert bob.ok("GET", "conversations") == []
    stolen = bob.request(
        "PATCH", f"messages/{question['id']}", json={"submitted_values": [{"value": "s"}]}
    )
    assert stolen.status_code == 404, stolen.text
    bob.say("hi")
    assert [m["content"] for m in bob.messages()["payload"]] == ["hi"]
    assert [m["content"] for m in alice.messages()["payload"]] == [
        "my address is 1 Main St",
        "Which size?",
    ]


def test_answers_to_questions_fire_message_updated(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[Visitor], receiver: Receiver
) -> None:
    visitor = visit(backend, inbox, visitors)
    conversation_id = visitor.say("I need help choosing")["conversation_id"]
    subscribe(api, receiver, "/u", ["message_updated"])
    question = agent_says(
        api,
        conversation_id,
        "Which plan?",
        content_type="input_select",
        content_attributes={"items": [{"title": "Basic", "value": "basic"}]},
    )
    note = agent_says(api, conversation_id, "internal", private=True)
    answer = [{"title": "Basic", "value": "basic"}]
    updated = visitor.ok("PATCH", f"messages/{question['id']}", json={"submitted_values": answer})
    assert updated["content_attributes"]["submitted_values"] == answer
    assert updated["content_attributes"]["items"] == [{"title": "Basic", "value": "basic"}]
    event = receiver.wait_for(1, "/u")[0].json()
    validate_event(event)
    assert event["id"] == question["id"]
    assert event["content_attributes"]["submitted_values"] == answer
    hidden = visitor.request(
        "PATCH", f"messages/{note['id']}", json={"submitted_values": [{"value": "x"}]}
    )
    assert hidden.status_code == 404
    assert visitor.request("PATCH", f"messages/{question['id']}", json={}).status_code == 422


def test_reading_updates_contact_last_seen_at(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[Visitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    assert visitor.request("POST", "conversations/update_last_seen").status_code == 200
    conversation_id = visitor.say("hello")["conversation_id"]
    assert api.get(f"conversations/{conversation_id}").json()["contact_last_seen_at"] == 0
    assert visitor.request("POST", "conversations/update_last_seen").status_code == 200
    seen = api.get(f"conversations/{conversation_id}").json()["contact_last_seen_at"]
    assert abs(seen - time.time()) < 60


def test_conversations_list_and_a_new_conversation(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[Visitor], receiver: Receiver
) -> None:
    visitor = visit(backend, inbox, visitors)
    first = visitor.say("first")["conversation_id"]
    api.post(f"conversations/{first}/toggle_status", json={"status": "resolved"})
    subscribe(api, receiver, "/c", ["conversation_created"])
    created = visitor.ok(
        "POST",
        "conversations",
        json={"content": "a new question", "custom_attributes": {"plan": "pro"}, "referer": "r"},
    )
    assert created["id"] != first
    assert [m["content"] for m in created["messages"]] == ["a new question"]
    event = receiver.wait_for(1, "/c")[0].json()
    validate_event(event)
    assert event["custom_attributes"] == {"plan": "pro"}
    assert event["additional_attributes"]["referer"] == "r"
    listed = visitor.ok("GET", "conversations")
    assert [(c["id"], c["status"]) for c in listed] == [
        (created["id"], "open"),
        (first, "resolved"),
    ]
    assert [m["content"] for m in visitor.messages()["payload"]] == ["a new question"]


def test_bad_input_is_a_clear_4xx(backend: Backend, inbox: JSON, visitors: list[Visitor]) -> None:
    visitor = visit(backend, inbox, visitors)
    cases = [
        ("POST", "messages", {"json": {"content": ""}}, 422, "content"),
        ("POST", "messages", {"json": {"content": "x", "referer": "r" * 3000}}, 422, "referer"),
        ("POST", "events", {"json": {"name": "webwidget.closed"}}, 422, "name"),
        (
            "POST",
            "events",
            {"json": {"name": "webwidget.triggered"}, "params": {"locale": "<script>"}},
            422,
            "locale",
        ),
        ("PATCH", "contact", {"json": {"email": "not-an-email"}}, 422, "email"),
        ("PATCH", "contact/set_user", {"json": {"name": "x"}}, 422, "identifier"),
        ("PATCH", "messages/99999999", {"json": {"submitted_values": {}}}, 404, "message_id"),
    ]
    for method, path, kwargs, status, field in cases:
        response = visitor.request(method, path, **kwargs)
        assert response.status_code == status, (path, response.text)
        body = response.json()
        assert body["errors"][0]["field"] == field, (path, body)
    malformed = visitor.request(
        "POST", "messages", content=b"{", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400


# -- webwidget_triggered ------------------------------------------------------------------------


def test_opening_the_widget_fires_webwidget_triggered(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[Visitor], receiver: Receiver
) -> None:
    subscribe(api, receiver, "/t", ["webwidget_triggered"])
    visitor = visit(backend, inbox, visitors)
    opened = "Wed Nov 25 2026 14:40:00 GMT+0100 (Central European Standard Time)"
    body = {
        "name": "webwidget.triggered",
        "event_info": {"initiated_at": {"timestamp": opened}, "referer": "https://shop.example/"},
    }
    headers = {"User-Agent": CHROME_LINUX, "Accept-Language": "fr-FR,fr;q=0.9"}
    response = visitor.request(
        "POST", "events", json=body, params={"locale": "de"}, headers=headers
    )
    assert (response.status_code, response.content) == (204, b"")
    event = receiver.wait_for(1, "/t")[0].json()
    validate_event(event)
    assert event["event_info"] == {
        "initiated_at": {"timestamp": opened},
        "referer": "https://shop.example/",
        "widget_language": "de",
        "browser_language": "fr",
        "browser": browser_info(CHROME_LINUX),
    }
    assert event["source_id"] == visitor.config["contact"]["source_id"]
    assert event["contact"]["id"] == visitor.config["contact"]["id"]
    assert event["current_conversation"] is None
    conversation_id = visitor.say("hi")["conversation_id"]
    visitor.ok("POST", "events", json=body)
    second = receiver.wait_for(2, "/t")[1].json()
    validate_event(second)
    assert second["current_conversation"]["id"] == conversation_id


# -- identity -----------------------------------------------------------------------------------


def test_set_user_with_a_valid_hash_verifies_and_a_wrong_one_is_refused(
    api: ApiClient, backend: Backend, visitors: list[Visitor]
) -> None:
    inbox = new_widget_inbox(api, hmac_mandatory=True)
    visitor = visit(backend, inbox, visitors)
    identifier = f"user-{uuid.uuid4().hex[:8]}"
    good = hmac_hex(inbox["hmac_token"], identifier)
    for bad in ({}, {"identifier_hash": "0" * 64}, {"identifier_hash": hmac_hex("x", identifier)}):
        refused = visitor.request(
            "PATCH", "contact/set_user", json={"identifier": identifier, "name": "Eve", **bad}
        )
        assert refused.status_code == 401, refused.text
    assert visitor.ok("GET", "contact")["identifier"] is None
    accepted = visitor.ok(
        "PATCH",
        "contact/set_user",
        json={"identifier": identifier, "identifier_hash": good, "name": "Jo", "email": "j@x.io"},
    )
    assert (accepted["identifier"], accepted["hmac_verified"]) == (identifier, True)
    assert (accepted["name"], accepted["email"]) == ("Jo", "j@x.io")
    # The customer's own contact and contact_inbox, not the anonymous visitor's (see
    # test_visitor_identity.py): the answer carries the token to keep.
    assert accepted["id"] != visitor.config["contact"]["id"]
    visitor.token = accepted["auth_token"]
    conversation_id = visitor.say("hello")["conversation_id"]
    agent_view = api.get(f"conversations/{conversation_id}").json()
    assert agent_view["contact_inbox"]["hmac_verified"] is True


def test_a_verified_identifier_resumes_the_customer_an_unverified_one_does_not(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[Visitor]
) -> None:
    identifier = f"customer-{uuid.uuid4().hex[:8]}"
    signed = {
        "identifier": identifier,
        "identifier_hash": hmac_hex(inbox["hmac_token"], identifier),
    }
    laptop = visit(backend, inbox, visitors)
    logged_in = laptop.ok("PATCH", "contact/set_user", json=signed)
    customer_id, laptop.token = logged_in["id"], logged_in["auth_token"]
    laptop.say("written on my laptop")

    claimant = visit(backend, inbox, visitors)  # knows the identifier, not the hash
    claimed = claimant.ok("PATCH", "contact/set_user", json={"identifier": identifier})
    assert claimed["id"] != customer_id
    # Only a label on the claimant's own anonymous contact, as for a free identifier.
    assert (claimed["identifier"], claimed["hmac_verified"]) == (identifier, False)
    assert claimant.messages()["payload"] == []
    with_wrong_hash = {"identifier": identifier, "identifier_hash": "f" * 64}
    assert claimant.request("PATCH", "contact/set_user", json=with_wrong_hash).status_code == 401

    phone = visit(backend, inbox, visitors)
    anonymous_id = phone.config["contact"]["id"]
    resumed = phone.ok("PATCH", "contact/set_user", json={**signed, "name": "Sam"})
    assert (resumed["id"], resumed["hmac_verified"], resumed["name"]) == (customer_id, True, "Sam")
    assert resumed["auth_token"] != phone.token
    phone.token = resumed["auth_token"]
    assert [m["content"] for m in phone.messages()["payload"]] == ["written on my laptop"]
    # The anonymous contact of the phone never wrote: it is not left behind.
    assert api.get(f"contacts/{anonymous_id}").status_code == 404


def test_unverified_set_user_and_custom_attributes(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[Visitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    identifier = f"u-{uuid.uuid4().hex[:8]}"
    contact = visitor.ok(
        "PATCH", "contact/set_user", json={"identifier": identifier, "name": "Kim"}
    )
    assert (contact["identifier"], contact["hmac_verified"], contact["name"]) == (
        identifier,
        False,
        "Kim",
    )
    visitor.ok("PATCH", "contact", json={"custom_attributes": {"plan": "pro"}})
    visitor.ok("PATCH", "contact", json={"custom_attributes": {"seats": 3}})
    agent_view = api.get(f"contacts/{contact['id']}").json()["payload"]
    assert agent_view["custom_attributes"] == {"plan": "pro", "seats": 3}
    taken = api.post("contacts", json={"name": "Other", "email": f"{identifier}@x.io"}).json()
    assert taken["payload"]["contact"]["email"] == f"{identifier}@x.io"
    kept = visitor.ok("PATCH", "contact", json={"email": f"{identifier}@x.io", "name": "Kim K"})
    # Another contact's e-mail is kept as given (the answer tells nothing), on this contact only.
    assert (kept["email"], kept["name"]) == (f"{identifier}@x.io", "Kim K")
    other = api.get(f"contacts/{taken['payload']['contact']['id']}").json()["payload"]
    assert other["name"] == "Other"


# -- the live stream ------------------------------------------------------------------------------


class LiveStream:
    """Reads a visitor's server-sent events in a thread: (event, data) pairs in a queue."""

    def __init__(self, visitor: Visitor) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.client = httpx.Client(base_url=visitor.backend.url, timeout=httpx.Timeout(10.0))
        params = {"website_token": visitor.website_token, "auth_token": visitor.token}
        headers = {"X-Forwarded-For": visitor.ip}
        self.context = self.client.stream(
            "GET", "/api/v1/widget/live", params=params, headers=headers
        )
        self.response = self.context.__enter__()
        assert self.response.status_code == 200
        assert self.response.headers["content-type"].startswith("text/event-stream")
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.next()[0] == "ready"

    def _read(self) -> None:
        event, data = "message", ""
        try:
            for line in self.response.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data = line[5:].strip()
                elif not line and data:
                    self.events.put((event, json.loads(data)))
                    event, data = "message", ""
        except (httpx.HTTPError, OSError, ValueError):
            pass  # closed by the test

    def next(self, timeout: float = 10.0) -> tuple[str, Any]:
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        self.client.close()


def test_the_live_stream_brings_replies_and_status_but_nothing_private_or_foreign(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[Visitor]
) -> None:
    alice, bob = visit(backend, inbox, visitors), visit(backend, inbox, visitors)
    alice_conversation = alice.say("hello")["conversation_id"]
    stream = LiveStream(alice)
    other = LiveStream(bob)
    try:
        agent_says(api, alice_conversation, "a private note", private=True)
        reply = agent_says(api, alice_conversation, "Hi Alice!")
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
        sentinel = agent_says(api, alice_conversation, "sentinel")
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


# -- rate limits --------------------------------------------------------------------------------


def exhaust(visitor: Visitor, path: str, limit: int) -> httpx.Response:
    for _ in range(limit):
        response = visitor.request("GET", path)
        if response.status_code == 429:
            return response
    raise AssertionError(f"no 429 within {limit} requests")


def test_a_visitor_is_rate_limited(backend: Backend, inbox: JSON, visitors: list[Visitor]) -> None:
    visitor = visit(backend, inbox, visitors)
    limited = exhaust(visitor, "contact", 200)
    assert int(limited.headers["Retry-After"]) >= 1
    body = limited.json()
    assert body["error"] == "rate_limited"
    assert "visitor" in body["message"]
    neighbour = Visitor(backend, inbox["website_token"], visitor.token)
    neighbour.ip = visitor.ip  # same visitor from another address: still limited
    assert neighbour.request("GET", "contact").status_code == 429
    neighbour.close()
    other = visit(backend, inbox, visitors)
    assert other.request("GET", "contact").status_code == 200


def test_an_address_is_rate_limited_before_any_work(backend: Backend, inbox: JSON) -> None:
    crowd = Visitor(backend, "no-such-website-token")  # 404s: cheap, but counted
    try:
        limited = exhaust(crowd, "contact", 2000)
        assert int(limited.headers["Retry-After"]) >= 1
        assert "address" in limited.json()["message"]
        elsewhere = Visitor(backend, inbox["website_token"])
        assert elsewhere.request("POST", "config").status_code == 200
        elsewhere.close()
    finally:
        crowd.close()


def test_token_buckets_refill_and_forget() -> None:
    now = [0.0]
    buckets = TokenBuckets(3, 2.0, max_keys=2, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    now[0] += 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("b") == 0.0
    buckets.take("c")  # beyond max_keys: "a", the least recently used, is forgotten
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == 0.0


def test_browser_details_from_headers() -> None:
    assert browser_info(CHROME_LINUX)["browser_name"] == "Chrome"
    assert browser_info(None)["browser_name"] == "Unknown"
    iphone = browser_info(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
    )
    assert (iphone["device_name"], iphone["platform_name"], iphone["platform_version"]) == (
        "iPhone",
        "iOS",
        "17.2",
    )
    assert browser_language("en;q=0.5, pt-BR") == "pt"
    assert browser_language("*") == ""
    assert browser_language(None) == ""


# -- files a website loads ---------------------------------------------------------------------


def test_the_sdk_is_small(backend: Backend) -> None:
    plain = httpx.get(f"{backend.url}/packs/js/sdk.js", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith("text/javascript")
    assert "voxsigSDK" in plain.text
    size = len(gzip.compress(plain.content, 9))
    assert size <= SDK_GZIP_LIMIT, f"sdk.js is {size} bytes gzipped, over {SDK_GZIP_LIMIT}"
    served = httpx.get(f"{backend.url}/packs/js/sdk.js", headers={"Accept-Encoding": "gzip"})
    assert served.headers["content-encoding"] == "gzip"
    assert served.content == plain.content  # httpx decodes it
    etag = served.headers["etag"]
    again = httpx.get(f"{backend.url}/packs/js/sdk.js", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_the_widget_page_and_its_assets(backend: Backend, inbox: JSON) -> None:
    page = httpx.get(f"{backend.url}/widget", params={"website_token": inbox["website_token"]})
    assert page.status_code == 200
    assert "frame-ancestors *" in page.headers["content-security-policy"]
    assert "x-frame-options" not in page.headers
    assert '<script src="/widget/assets/widget.js"' in page.text
    for name, kind in (("widget.js", "text/javascript"), ("widget.css", "text/css")):
        asset = httpx.get(f"{backend.url}/widget/assets/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(kind)
    assert httpx.get(f"{backend.url}/widget/assets/..%2Fapi.py").status_code == 404


def test_the_preview_page_embeds_the_inboxes_snippet(api: ApiClient, backend: Backend) -> None:
    inbox = new_widget_inbox(api, website_url="https://acme.example/shop")
    renamed = api.patch(f"inboxes/{inbox['id']}", json={"name": "<b>Acme</b> & Co"})
    assert renamed.status_code == 200
    url = inbox["widget_preview_url"]
    assert url == f"{backend.url}/widget/preview?website_token={inbox['website_token']}"
    page = httpx.get(url)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert inbox["web_widget_script"] in page.text  # embedded as the website owner would
    assert "&lt;b&gt;Acme&lt;/b&gt; &amp; Co" in page.text
    assert "<b>Acme</b>" not in page.text
    assert "acme.example" in page.text
    api_inbox = api.post("inboxes", json={"name": "API", "channel": {"type": "api"}}).json()
    assert api_inbox["widget_preview_url"] is None
    assert httpx.get(f"{backend.url}/widget/preview?website_token=nope").status_code == 404
