"""One set of rules for every path that writes a message (REST, public client API, widget,
dashboard composer): at most 150,000 characters, no NUL character. The dashboard shows a
refused message under the composer, as its other forms show errors, and stores nothing; its
other forms refuse what the API refuses."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import Backend
from tests.support.client import ApiClient, ok, unique_email
from tests.support.widget import unique_ip

JSON = dict[str, Any]
MAX_CONTENT = 150_000
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CONTENT_ERROR = re.compile(r'<p class="error" id="f-content-error">([^<]*)</p>')
TOO_LONG = "x" * 200_000
WITH_NUL = "before\x00after"


def refused(response: httpx.Response, field: str = "content") -> None:
    assert response.status_code == 422, f"{response.request.url}: {response.text[:300]}"
    assert field in [e["field"] for e in response.json()["errors"]], response.text[:300]


class Dashboard:
    """A logged-in browser session, without the browser."""

    def __init__(self, api: ApiClient) -> None:
        self.http = httpx.Client(base_url=api.url, timeout=60.0)
        self.token = self._token("/")
        answer = self.http.post(
            "/login",
            data={
                "csrf_token": self.token,
                "email": api.credentials.email,
                "password": api.credentials.password,
            },
        )
        assert answer.status_code == 303, answer.text[:300]
        self.token = self._token("/app/profile")

    def _token(self, path: str) -> str:
        found = CSRF.search(self.http.get(path).text)
        assert found, path
        return found.group(1)

    def post(self, path: str, data: dict[str, Any]) -> httpx.Response:
        return self.http.post(path, data={"csrf_token": self.token, **data})


@pytest.fixture
def dashboard(api: ApiClient) -> Any:
    made = Dashboard(api)
    yield made
    made.http.close()


@pytest.fixture
def conversation(api: ApiClient) -> JSON:
    inbox = ok(api.post("inboxes", json={"name": "API", "channel": {"type": "api"}}))
    contact = ok(api.post("contacts", json={"name": "Bo", "inbox_id": inbox["id"]}))
    body = {"inbox_id": inbox["id"], "contact_id": contact["payload"]["contact"]["id"]}
    made: JSON = ok(api.post("conversations", json=body))
    made["inbox"] = inbox
    return made


def contents(api: ApiClient, display_id: int) -> list[str]:
    listed = ok(api.get(f"conversations/{display_id}/messages"))["payload"]
    return [m["content"] for m in listed if m["message_type"] != 2]


@pytest.mark.parametrize("mode", ["reply", "note"])
@pytest.mark.parametrize("content", [TOO_LONG, WITH_NUL], ids=["too long", "nul"])
def test_the_composer_refuses_what_the_api_refuses(
    api: ApiClient, dashboard: Dashboard, conversation: JSON, mode: str, content: str
) -> None:
    display_id = conversation["id"]
    answer = dashboard.post(
        f"/app/conversations/{display_id}/messages", {"content": content, "mode": mode}
    )
    # The conversation page again, the error under the composer, the draft kept (minus NUL).
    assert answer.status_code == 200, answer.text[:300]
    error = CONTENT_ERROR.search(answer.text)
    assert error, answer.text[-2000:]
    assert "150000" in error.group(1) or "NUL" in error.group(1), error.group(1)
    assert "\x00" not in answer.text
    assert contents(api, display_id) == []
    # The same message through the API is refused for the same field.
    refused(
        api.post(
            f"conversations/{display_id}/messages",
            json={"content": content, "private": mode == "note"},
        )
    )
    # What the rules allow is sent.
    sent = dashboard.post(
        f"/app/conversations/{display_id}/messages", {"content": "y" * MAX_CONTENT, "mode": mode}
    )
    assert sent.status_code == 303, sent.text[:300]
    assert contents(api, display_id) == ["y" * MAX_CONTENT]


def test_editing_a_message_follows_the_same_rules(api: ApiClient, conversation: JSON) -> None:
    display_id = conversation["id"]
    message = ok(api.post(f"conversations/{display_id}/messages", json={"content": "hi"}))
    for content in (TOO_LONG, WITH_NUL):
        refused(api.patch(f"messages/{message['id']}", json={"content": content}))
    assert contents(api, display_id) == ["hi"]


def test_the_widget_and_the_public_api_follow_the_same_rules(
    api: ApiClient, backend: Backend, conversation: JSON
) -> None:
    ip = unique_ip()
    site = ok(api.post("inboxes", json={"name": "Site", "channel": {"type": "web_widget"}}))
    http = httpx.Client(base_url=backend.url, timeout=60.0, headers={"X-Forwarded-For": ip})
    try:
        widget = {"website_token": site["website_token"]}
        token = ok(http.post("/api/v1/widget/config", params=widget))["auth_token"]
        headers = {"X-Auth-Token": token}
        for content in (TOO_LONG, WITH_NUL):
            for path in ("messages", "conversations"):
                refused(
                    http.post(
                        f"/api/v1/widget/{path}",
                        params=widget,
                        headers=headers,
                        json={"content": content},
                    )
                )
        public = f"/public/api/v1/inboxes/{conversation['inbox']['inbox_identifier']}"
        contact = ok(http.post(f"{public}/contacts", json={"email": unique_email("p")}))
        mine = f"{public}/contacts/{contact['source_id']}/conversations"
        started = ok(http.post(mine, json={}))
        for content in (TOO_LONG, WITH_NUL):
            refused(http.post(f"{mine}/{started['id']}/messages", json={"content": content}))
        assert ok(http.get(f"{mine}/{started['id']}/messages")) == []
    finally:
        http.close()


@pytest.mark.parametrize(
    ("path", "data", "field"),
    [
        ("/app/settings/inboxes", {"name": "In\x00box", "channel": "api"}, "name"),
        ("/app/settings/agents", {"name": "A\x00gent", "email": "", "role": "agent"}, "name"),
        ("/app/webhooks", {"name": "W\x00", "url": "https://example.com/h"}, "name"),
    ],
)
def test_the_other_dashboard_forms_refuse_nul_as_the_api_does(
    api: ApiClient, dashboard: Dashboard, path: str, data: dict[str, str], field: str
) -> None:
    before = {
        "inboxes": len(ok(api.get("inboxes"))["payload"]),
        "agents": len(ok(api.get("agents"))),
    }
    answer = dashboard.post(path, {**data, "email": data.get("email") or unique_email("a")})
    assert answer.status_code == 200, answer.text[:300]
    assert re.search(rf'id="\w+-{field}-error">[^<]*NUL', answer.text), answer.text[-3000:]
    assert len(ok(api.get("inboxes"))["payload"]) == before["inboxes"]
    assert len(ok(api.get("agents"))) == before["agents"]


def test_logging_in_with_a_nul_in_the_email_is_a_wrong_login(backend: Backend) -> None:
    """The login form has no request model; PostgreSQL cannot compare a NUL (it was a 500)."""
    http = httpx.Client(base_url=backend.url, timeout=60.0)
    try:
        found = CSRF.search(http.get("/").text)
        assert found
        data = {"csrf_token": found.group(1), "email": "a\x00b@example.com", "password": "x"}
        answer = http.post("/login", data=data)
        assert answer.status_code == 200, answer.text[:300]
        assert "<form" in answer.text
    finally:
        http.close()
