"""The dashboard over plain HTTP: sessions, CSRF, roles, the login limit, and that its actions
fire the same webhooks as the API. The browser tests (test_dashboard_browser.py) walk it as a
user does."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Backend
from tests.support.client import ApiClient, unique_email
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Dashboard:
    """A browser without the browser: cookies, the CSRF token of the current session."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30.0)
        self.token = ""

    def refresh_token(self, path: str = "/") -> str:
        found = CSRF.search(self.http.get(path).text)
        assert found, f"no CSRF token on {path}"
        self.token = found.group(1)
        return self.token

    def login(self, email: str, password: str) -> httpx.Response:
        self.refresh_token("/")
        response = self.http.post(
            "/login", data={"csrf_token": self.token, "email": email, "password": password}
        )
        if response.status_code == 303:
            self.refresh_token("/app/profile")
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None) -> httpx.Response:
        """A form post with this session's CSRF token."""
        return self.http.post(path, data={"csrf_token": self.token, **(data or {})})

    def close(self) -> None:
        self.http.close()


def logged_in(api: ApiClient) -> Dashboard:
    dashboard = Dashboard(api.url)
    response = dashboard.login(api.credentials.email, api.credentials.password)
    assert response.status_code == 303, response.text
    return dashboard


def start_conversation(api: ApiClient, text: str = "Hello, I need help") -> dict[str, Any]:
    """What the widget does for a visitor, through the REST API: a contact in the first
    inbox, a conversation with the visit's details, the visitor's first message."""
    inboxes = api.get("inboxes").json()["payload"]
    inbox_id = inboxes[0]["id"] if inboxes else None
    if inbox_id is None:
        made = api.post("inboxes", json={"name": "Site", "channel": {"type": "web_widget"}})
        inbox_id = made.json()["id"]
    contact = api.post(
        "contacts", json={"name": "Bob Visitor", "email": unique_email("bob"), "inbox_id": inbox_id}
    ).json()["payload"]["contact"]
    conversation = api.post(
        "conversations",
        json={
            "inbox_id": inbox_id,
            "contact_id": contact["id"],
            "additional_attributes": {
                "browser": {"browser_name": "Firefox", "platform_name": "Linux"},
                "referer": "https://shop.example/pricing",
            },
        },
    ).json()
    sent = api.post(
        f"conversations/{conversation['id']}/messages",
        json={"content": text, "message_type": "incoming"},
    )
    assert sent.status_code == 200, sent.text
    return conversation


def test_pages_need_a_login(backend: Backend) -> None:
    response = httpx.get(f"{backend.url}/app/conversations?status=all")
    assert response.status_code == 303
    assert response.headers["location"] == "/?next=%2Fapp%2Fconversations%3Fstatus%3Dall"
    assert httpx.get(f"{backend.url}/app/live").status_code == 401


def test_login_page_once_an_account_exists_and_onboarding_is_closed(api: ApiClient) -> None:
    dashboard = Dashboard(api.url)
    page = dashboard.get("/")
    assert page.status_code == 200
    assert "Log in to Voxsig" in page.text
    dashboard.refresh_token("/")
    refused = dashboard.post(
        "/onboarding",
        {"account_name": "Intruder", "name": "Eve", "email": unique_email(), "password": "x" * 12},
    )
    assert refused.status_code == 403
    assert "already set up" in refused.text


def test_form_posts_without_the_csrf_token_are_refused(api: ApiClient) -> None:
    anonymous = httpx.Client(base_url=api.url)
    anonymous.get("/")
    login = {"email": api.credentials.email, "password": api.credentials.password}
    assert anonymous.post("/login", data=login).status_code == 403
    assert anonymous.post("/login", data={**login, "csrf_token": "forged"}).status_code == 403

    dashboard = logged_in(api)
    hook = {"url": "https://example.com/hook", "subscriptions": "conversation_created"}
    refused = dashboard.http.post("/app/webhooks", data=hook)
    assert refused.status_code == 403
    assert "security token" in refused.text
    # A token from another session is no better than none.
    other = logged_in(api)
    assert (
        dashboard.http.post("/app/webhooks", data={**hook, "csrf_token": other.token}).status_code
        == 403
    )
    assert api.get("webhooks").json()["payload"]["webhooks"] == []
    assert dashboard.http.post("/logout").status_code == 403
    assert dashboard.get("/app/conversations").status_code == 200  # still logged in
    assert dashboard.post("/app/webhooks", hook).status_code == 303  # with the token: created


def test_session_cookie_is_httponly_samesite_and_secure_behind_https(api: ApiClient) -> None:
    dashboard = Dashboard(api.url)
    dashboard.refresh_token("/")
    response = dashboard.http.post(
        "/login",
        data={
            "csrf_token": dashboard.token,
            "email": api.credentials.email,
            "password": api.credentials.password,
        },
    )
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie  # plain http: the browser would drop a Secure cookie
    # The suite's server trusts the tests as its proxy (conftest); that no other address is
    # believed by default is in test_login_limits.py.
    behind_tls = httpx.get(f"{api.url}/", headers={"x-forwarded-proto": "https"})
    assert "secure" in behind_tls.headers["set-cookie"].lower()
    # A cookie that was tampered with is no session at all.
    value = dashboard.http.cookies["voxsig_session"]
    forged = httpx.get(f"{api.url}/app/conversations", cookies={"voxsig_session": "x" + value[1:]})
    assert forged.status_code == 303
    headers = dashboard.get("/app/conversations").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"


def test_logout_ends_the_session(api: ApiClient) -> None:
    dashboard = logged_in(api)
    assert dashboard.post("/logout").status_code == 303
    assert dashboard.get("/app/conversations").status_code == 303


def test_wrong_passwords_then_the_login_limit(backend: Backend) -> None:
    dashboard = Dashboard(backend.url)
    email = unique_email("nobody")
    for _ in range(10):
        response = dashboard.login(email, "wrong-password")
        assert response.status_code == 200
        assert "The email or the password is not right." in response.text
    limited = dashboard.login(email, "wrong-password")
    assert limited.status_code == 429
    assert "Too many login attempts" in limited.text
    assert int(limited.headers["retry-after"]) > 0


def test_agent_is_refused_settings_and_webhooks(api: ApiClient) -> None:
    admin = logged_in(api)
    email = unique_email("agent")
    added = admin.post(
        "/app/settings/agents", {"name": "Jane Agent", "email": email, "role": "agent"}
    )
    assert added.status_code == 200, added.text
    link = re.search(r'id="invite-link" readonly value="([^"]+)"', added.text)
    assert link, added.text
    path = "/" + html.unescape(link.group(1)).split("/", 3)[3]

    agent = Dashboard(api.url)
    # The invitation link sends a user without a password on to their set-password form.
    path = agent.get(path).headers["location"]
    agent.refresh_token(path)
    short = agent.post(path, {"password": "short", "password_confirmation": "short"})
    assert "at least 8 characters" in short.text
    chosen = {"password": "agent-password-1", "password_confirmation": "agent-password-1"}
    assert agent.post(path, chosen).status_code == 303
    assert agent.get(path).status_code == 404  # the link works once

    again = Dashboard(api.url)
    assert again.login(email, "agent-password-1").status_code == 303
    home = again.get("/app/conversations")
    assert home.status_code == 200
    assert 'href="/app/webhooks"' not in home.text
    for page in (
        "/app/webhooks",
        "/app/webhooks/new",
        "/app/settings/inboxes",
        "/app/settings/agents",
    ):
        assert again.get(page).status_code == 403, page
    hook = {"url": "https://example.com/agent", "subscriptions": "conversation_created"}
    assert again.post("/app/webhooks", hook).status_code == 403
    assert again.get("/app/profile").status_code == 200


def test_errors_are_shown_next_to_the_field(api: ApiClient) -> None:
    dashboard = logged_in(api)
    response = dashboard.post("/app/webhooks", {"url": "ftp://example.com", "name": "Bad"})
    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.text
    assert re.search(r'id="f-url-error">must be an absolute http', response.text)
    assert 'id="events-error">subscribe to at least one event' in response.text
    assert api.get("webhooks").json()["payload"]["webhooks"] == []


def test_reading_a_conversation_marks_it_seen(api: ApiClient) -> None:
    conversation = start_conversation(api)
    path = f"conversations/{conversation['id']}"
    assert api.get(path).json()["unread_count"] == 1
    dashboard = logged_in(api)
    listing = dashboard.get("/app/conversations")
    assert "1 unread" in listing.text
    assert dashboard.get(f"/app/{path}").status_code == 200
    after = api.get(path).json()
    assert after["unread_count"] == 0
    assert after["agent_last_seen_at"] > 0


def test_live_stream_signals_new_messages(api: ApiClient) -> None:
    conversation = start_conversation(api)
    dashboard = logged_in(api)
    with dashboard.http.stream("GET", "/app/live") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == "retry: 1000"
        api.post(
            f"conversations/{conversation['id']}/messages",
            json={"content": "Are you there?", "message_type": "incoming"},
        )
        data = next(line for line in lines if line.startswith("data: "))
        assert '"kind": "message.created"' in data


def _events(receiver: Receiver, count: int) -> list[dict[str, Any]]:
    return [r.json() for r in receiver.wait_for(count, "/all", timeout=15)]


def test_dashboard_actions_fire_the_same_webhooks_as_the_api(
    api: ApiClient, receiver: Receiver
) -> None:
    made = api.post(
        "webhooks",
        json={
            "url": receiver.url("/all"),
            "subscriptions": [
                "conversation_updated",
                "conversation_status_changed",
                "message_created",
            ],
        },
    )
    assert made.status_code == 200, made.text
    conversation = start_conversation(api)
    _events(receiver, 1)  # the visitor's message
    dashboard = logged_in(api)
    base = f"/app/conversations/{conversation['id']}"
    steps = [
        ("/messages", {"content": "Hi Bob, happy to help", "mode": "reply"}),
        ("/messages", {"content": "VIP customer", "mode": "note"}),
        ("/assignee", {"assignee_id": "me"}),
        ("/priority", {"priority": "high"}),
        ("/labels", {"labels": "billing, vip"}),
        ("/status", {"status": "snoozed", "snooze": "1"}),
        ("/status", {"status": "resolved"}),
    ]
    for suffix, data in steps:
        assert dashboard.post(base + suffix, data).status_code == 303, suffix
    events = _events(receiver, 10)[1:]
    names = [e["event"] for e in events]
    assert names == [
        "message_created",
        "message_created",
        "conversation_updated",
        "conversation_updated",
        "conversation_updated",
        "conversation_status_changed",
        "conversation_updated",
        "conversation_status_changed",
        "conversation_updated",
    ]
    reply, note = events[0], events[1]
    assert (reply["private"], reply["sender"]["type"]) == (False, "user")
    assert note["private"] is True
    changed = [
        list(e["changed_attributes"][0]) for e in events if e["event"] == "conversation_updated"
    ]
    assert changed[:3] == [["assignee_id"], ["priority"], ["labels"]]
    assert events[5]["changed_attributes"][0]["status"]["current_value"] == "snoozed"
    assert events[-1]["status"] == "resolved"
    page = dashboard.get(base).text
    assert "Conversation was resolved by Ada Admin" in page
    assert "Private note" in page


def test_enabling_a_disabled_endpoint_recovers_what_it_missed(
    api: ApiClient, receiver: Receiver
) -> None:
    receiver.respond("/gone", 410)
    made = api.post(
        "webhooks", json={"url": receiver.url("/gone"), "subscriptions": ["conversation_created"]}
    ).json()["payload"]["webhook"]
    start_conversation(api)
    receiver.wait_for(1, "/gone")
    wait_until(
        lambda: not api.get(f"webhooks/{made['id']}").json()["payload"]["webhook"]["enabled"],
        10,
        lambda: "410 did not disable the endpoint",
        step=0.1,
    )
    start_conversation(api)  # published while disabled: no delivery yet
    dashboard = logged_in(api)
    listing = dashboard.get("/app/webhooks").text
    assert "Disabled" in listing
    assert "HTTP 410" in listing
    enabled = dashboard.post(f"/app/webhooks/{made['id']}/enable", {"recover": "on"})
    assert enabled.status_code == 303
    # The delivery that got the 410 failed and is sent again; the event published while
    # disabled is recovered.
    flash = dashboard.get(enabled.headers["location"]).text
    assert "1 failed delivery sent again, 1 missed event delivered" in flash
    received = receiver.wait_for(3, "/gone")
    assert {r.json()["event"] for r in received} == {"conversation_created"}
    assert len({r.headers["webhook-id"] for r in received}) == 2  # the first one, sent again


@pytest.mark.parametrize(
    "path", ["/app/conversations/999999", "/app/webhooks/999999", "/app/contacts/abc"]
)
def test_unknown_things_are_404_pages(api: ApiClient, path: str) -> None:
    response = logged_in(api).get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


def test_a_user_of_two_accounts_switches_between_them(
    api: ApiClient, make_account: Callable[..., ApiClient]
) -> None:
    other = make_account("Other Co", "Olga")
    added = other.post(
        "agents", json={"name": "Ada Admin", "email": api.credentials.email, "role": "agent"}
    )
    assert added.status_code == 200, added.text
    dashboard = logged_in(api)
    # An existing user is invited (tests/test_tenant_users.py): she accepts, then switches.
    invitation = re.search(r"/app/invitations/(\d+)/accept", dashboard.get("/app/accounts").text)
    assert invitation
    assert dashboard.post(invitation.group(0)).status_code == 303
    assert dashboard.post("/app/account", {"account_id": str(api.account_id)}).status_code == 303
    assert 'id="account-switch"' in dashboard.get("/app/conversations").text
    switched = dashboard.post("/app/account", {"account_id": str(other.account_id)})
    assert switched.status_code == 303
    page = dashboard.get("/app/conversations").text
    assert f'value="{other.account_id}" selected' in page
    assert 'href="/app/webhooks"' not in page  # an agent there, not an administrator
    assert dashboard.post("/app/account", {"account_id": "999999"}).status_code == 404
