"""Security #7: an account's administrator cannot change, or learn about, another tenant's
user. Adding an existing user is an invitation they accept; the add answers alike for a new
and an existing email; a user's own name and email are changed by nobody else; a user of
several accounts chooses which one the dashboard opens."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.client import ApiClient, ok, unique_email

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK = re.compile(r'id="invite-link" readonly value="([^"]+)"')
# What may differ between two agents' answers: who they are, not what kind of user they are.
OWN = ("id", "name", "display_name", "available_name", "email")


class Dashboard:
    """Cookies and the current session's CSRF token, as a browser would keep them."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30.0)
        self.token = ""

    def refresh_token(self, path: str) -> None:
        found = CSRF.search(self.http.get(path, follow_redirects=True).text)
        assert found, f"no CSRF token on {path}"
        self.token = found.group(1)

    def login(self, email: str, password: str) -> httpx.Response:
        self.refresh_token("/")
        response = self.post("/login", {"email": email, "password": password})
        assert response.status_code == 303, response.text
        self.refresh_token("/app/profile")
        return response

    def post(self, path: str, data: dict[str, Any] | None = None) -> httpx.Response:
        return self.http.post(path, data={"csrf_token": self.token, **(data or {})})

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)


def invite(api: ApiClient, name: str, email: str, role: str = "agent") -> dict[str, Any]:
    agent: dict[str, Any] = ok(
        api.post("agents", json={"name": name, "email": email, "role": role})
    )
    return agent


def test_an_administrator_cannot_rename_or_reach_another_tenants_user(
    make_account: Callable[..., ApiClient],
) -> None:
    a = make_account("Alpha", "Ann Alpha")
    b = make_account("Beta", "Bea Beta")
    before = ok(b.get("/api/v1/profile"))
    added = invite(a, "Mallory's puppet", b.credentials.email)
    assert added["id"] == b.user_id
    # A sees what it typed, not B's user: not their name, not their avatar, not joined.
    assert (added["name"], added["confirmed"], added["avatar_url"]) == (
        "Mallory's puppet",
        False,
        "",
    )
    renamed = ok(a.patch(f"agents/{b.user_id}", json={"name": "Pwned", "email": "x@evil.test"}))
    assert renamed["name"] == "Pwned"  # the invitation's name, in A only
    assert ok(a.patch(f"agents/{b.user_id}", json={"role": "administrator"}))["role"] == (
        "administrator"
    )
    # B's user is unchanged everywhere B looks, and is no member of A until they accept.
    after = ok(b.get("/api/v1/profile"))
    assert (
        (after["name"], after["email"])
        == (before["name"], before["email"])
        == (
            "Bea Beta",
            b.credentials.email,
        )
    )
    mine = ok(b.get(f"agents/{b.user_id}"))
    assert (mine["name"], mine["email"], mine["role"]) == (
        "Bea Beta",
        b.credentials.email,
        "administrator",
    )
    assert [x["id"] for x in after["accounts"]] == [b.account_id]
    assert b.get(f"/api/v1/accounts/{a.account_id}/agents").status_code == 404
    # A can withdraw the invitation, and nothing of B's user goes with it.
    assert a.delete(f"agents/{b.user_id}").status_code == 200
    assert a.get(f"agents/{b.user_id}").status_code == 404
    assert ok(b.get("/api/v1/profile"))["name"] == "Bea Beta"


def test_the_add_answers_alike_for_a_new_and_an_existing_email(
    make_account: Callable[..., ApiClient],
) -> None:
    a = make_account("Alpha", "Ann Alpha")
    b = make_account("Beta", "Bea Beta")
    fresh_email = unique_email("fresh")
    fresh = a.post("agents", json={"name": "Nina New", "email": fresh_email})
    known = a.post("agents", json={"name": "Olga Old", "email": b.credentials.email.upper()})
    assert fresh.status_code == known.status_code == 200
    assert fresh.headers["content-type"] == known.headers["content-type"]
    fresh_body, known_body = fresh.json(), known.json()
    assert fresh_body.keys() == known_body.keys()
    assert {k: v for k, v in fresh_body.items() if k not in OWN} == {
        k: v for k, v in known_body.items() if k not in OWN
    }
    assert (fresh_body["name"], fresh_body["email"]) == ("Nina New", fresh_email)
    assert (known_body["name"], known_body["email"]) == ("Olga Old", b.credentials.email)
    assert known_body["confirmed"] is False
    assert known_body["avatar_url"] == ""
    # Ids are not handed out in order, so an older user's id does not stand out either.
    assert fresh_body["id"] not in (a.user_id + 1, b.user_id + 1)
    # Listed and fetched alike too, and adding either again is the same refusal.
    listed = {x["id"]: x for x in ok(a.get("agents"))}
    assert listed[fresh_body["id"]] == fresh_body
    assert listed[known_body["id"]] == known_body
    assert ok(a.get(f"agents/{known_body['id']}")) == known_body
    again = [
        a.post("agents", json={"name": "x", "email": email})
        for email in (fresh_email, b.credentials.email)
    ]
    assert [r.status_code for r in again] == [422, 422]
    assert [e["field"] for r in again for e in r.json()["errors"]] == ["email", "email"]
    # The name of either may be corrected before they join, the same way.
    for agent in (fresh_body, known_body):
        assert ok(a.patch(f"agents/{agent['id']}", json={"name": "Corrected"}))["name"] == (
            "Corrected"
        )
    assert ok(b.get("/api/v1/profile"))["name"] == "Bea Beta"


def test_the_dashboards_add_form_answers_alike(make_account: Callable[..., ApiClient]) -> None:
    a = make_account("Alpha", "Ann Alpha")
    b = make_account("Beta", "Bea Beta")
    admin = Dashboard(a.url)
    admin.login(a.credentials.email, a.credentials.password)
    pages = [
        admin.post("/app/settings/agents", {"name": "Same", "email": email, "role": "agent"})
        for email in (unique_email("fresh"), b.credentials.email)
    ]
    assert [p.status_code for p in pages] == [200, 200]
    for response in pages:
        assert "Same was invited" in response.text
        assert LINK.search(response.text)
        assert "Bea Beta" not in response.text
    # Only the brand new user can choose a password through their link.
    links = ["/" + html.unescape(LINK.search(p.text).group(1)).split("/", 3)[3] for p in pages]  # type: ignore[union-attr]
    visitor = Dashboard(a.url)
    new_user = visitor.http.get(links[0], follow_redirects=True)
    assert "Choose your password" in new_user.text
    existing = visitor.http.get(links[1])
    assert existing.status_code == 303
    assert existing.headers["location"].startswith("/?next=")
    assert ok(b.get("/api/v1/profile"))["name"] == "Bea Beta"


def test_a_user_of_two_accounts_chooses_which_one_to_open(
    make_account: Callable[..., ApiClient],
) -> None:
    a = make_account("Alpha", "Ann Alpha")
    b = make_account("Beta", "Bea Beta")
    invite(a, "Typed by Alpha", b.credentials.email)
    bea = Dashboard(b.url)
    assert bea.login(b.credentials.email, b.credentials.password).headers["location"] == (
        "/app/accounts"
    )
    chooser = bea.get("/app/accounts")
    assert chooser.status_code == 200
    assert "Alpha" in chooser.text
    assert "Accept and open Alpha" in chooser.text
    invitation = re.search(r'action="/app/invitations/(\d+)/accept"', chooser.text)
    assert invitation
    # Another user cannot accept it for her.
    ann = Dashboard(a.url)
    ann.login(a.credentials.email, a.credentials.password)
    stolen = ann.post(f"/app/invitations/{invitation.group(1)}/accept")
    assert stolen.status_code == 404
    joined = bea.post(f"/app/invitations/{invitation.group(1)}/accept")
    assert joined.status_code == 303
    page = bea.get("/app/conversations").text
    assert f'value="{a.account_id}" selected' in page
    assert 'href="/app/webhooks"' not in page  # an agent in Alpha
    # Alpha now shows her own name, and may no longer change it; her role it may.
    member = ok(a.get(f"agents/{b.user_id}"))
    assert (member["name"], member["confirmed"]) == ("Bea Beta", True)
    refused = a.patch(f"agents/{b.user_id}", json={"name": "Pwned"})
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["name"]
    assert ok(a.patch(f"agents/{b.user_id}", json={"role": "agent", "name": "Bea Beta"}))
    assert ok(b.get("/api/v1/profile"))["name"] == "Bea Beta"

    # She opens either account: from the chooser, and again after a new login.
    assert bea.post("/app/account", {"account_id": str(b.account_id)}).status_code == 303
    assert f'value="{b.account_id}" selected' in bea.get("/app/conversations").text
    again = Dashboard(b.url)
    assert again.login(b.credentials.email, b.credentials.password).headers["location"] == (
        "/app/accounts"
    )
    listing = again.get("/app/accounts").text
    assert "Accept and open" not in listing
    assert again.post("/app/account", {"account_id": str(a.account_id)}).status_code == 303
    assert f'value="{a.account_id}" selected' in again.get("/app/conversations").text
    assert 'href="/app/webhooks"' not in again.get("/app/conversations").text
