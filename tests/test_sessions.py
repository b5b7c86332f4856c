"""Dashboard sessions end for real (issue 11, finding 6): a cookie copied before logout, a
password change or a removal from the account opens nothing after it."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.client import ApiClient, unique_email

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NEW_PASSWORD = "a-brand-new-password"


class Browser:
    """Cookies and the CSRF token of one dashboard session."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30.0)
        self.token = ""

    def refresh(self, path: str = "/") -> None:
        found = CSRF.search(self.http.get(path).text)
        assert found, f"no CSRF token on {path}"
        self.token = found.group(1)

    def login(self, email: str, password: str) -> httpx.Response:
        self.refresh("/")
        answer = self.post("/login", {"email": email, "password": password})
        if answer.status_code == 303:
            self.refresh("/app/profile")
        return answer

    def post(self, path: str, data: dict[str, Any] | None = None) -> httpx.Response:
        return self.http.post(path, data={"csrf_token": self.token, **(data or {})})

    def cookie(self) -> str:
        return self.http.cookies["voxsig_session"]

    def close(self) -> None:
        self.http.close()


def logged_in(api: ApiClient, password: str | None = None) -> Browser:
    browser = Browser(api.url)
    answer = browser.login(api.credentials.email, password or api.credentials.password)
    assert answer.status_code == 303, answer.text
    return browser


def opens(base_url: str, cookie: str, path: str = "/app/profile") -> bool:
    """Whether a browser holding only `cookie` is logged in (a replayed, copied cookie)."""
    answer = httpx.get(f"{base_url}{path}", cookies={"voxsig_session": cookie}, timeout=30.0)
    assert answer.status_code in (200, 303), answer.text
    return answer.status_code == 200


def test_a_cookie_replayed_after_logout_is_logged_out(api: ApiClient) -> None:
    browser = logged_in(api)
    copied = browser.cookie()
    assert opens(api.url, copied)
    assert browser.post("/logout").status_code == 303
    assert not opens(api.url, copied)
    assert not opens(api.url, copied, "/app/conversations")
    live = httpx.get(f"{api.url}/app/live", cookies={"voxsig_session": copied}, timeout=30.0)
    assert live.status_code == 401
    browser.close()


def test_a_page_left_behind_does_not_overwrite_the_cookie_of_the_logout(api: ApiClient) -> None:
    """A fetch of the page being left (its live catch-up) can reach the server after the logout:
    it must not replace the logout's cookie, or the login form's CSRF token no longer matches."""
    browser = logged_in(api)
    copied = browser.cookie()
    assert browser.post("/logout").status_code == 303
    late = httpx.get(
        f"{api.url}/app/conversations",
        cookies={"voxsig_session": copied},
        headers={"sec-fetch-mode": "cors"},
        timeout=30.0,
    )
    assert late.status_code == 303
    assert "set-cookie" not in late.headers
    opened = httpx.get(
        f"{api.url}/app/conversations",
        cookies={"voxsig_session": copied},
        headers={"sec-fetch-mode": "navigate"},
        timeout=30.0,
    )
    assert opened.status_code == 303
    assert "voxsig_session=" in opened.headers["set-cookie"]
    browser.close()


def test_a_password_change_ends_every_other_session_and_keeps_the_token(api: ApiClient) -> None:
    other, changer = logged_in(api), logged_in(api)
    copied = other.cookie()
    wrong = changer.post(
        "/app/profile/password",
        {
            "current_password": "not-the-password",
            "password": NEW_PASSWORD,
            "password_confirmation": NEW_PASSWORD,
        },
    )
    assert "The current password is not right" in wrong.text
    assert opens(api.url, copied)  # a refused change ends nothing
    differ = changer.post(
        "/app/profile/password",
        {
            "current_password": api.credentials.password,
            "password": NEW_PASSWORD,
            "password_confirmation": NEW_PASSWORD + "x",
        },
    )
    assert "The two passwords differ" in differ.text
    changed = changer.post(
        "/app/profile/password",
        {
            "current_password": api.credentials.password,
            "password": NEW_PASSWORD,
            "password_confirmation": NEW_PASSWORD,
        },
    )
    assert changed.status_code == 303, changed.text
    assert not opens(api.url, copied)
    assert opens(api.url, changer.cookie())  # the session that changed it stays
    assert api.get("/api/v1/profile").status_code == 200  # the API token is kept
    old_password = Browser(api.url).login(api.credentials.email, api.credentials.password)
    assert old_password.status_code == 200  # refused: the form again
    logged_in(api, NEW_PASSWORD).close()
    other.close()
    changer.close()


def test_a_password_change_can_rotate_the_token(api: ApiClient) -> None:
    changer = logged_in(api)
    answer = changer.post(
        "/app/profile/password",
        {
            "current_password": api.credentials.password,
            "password": NEW_PASSWORD,
            "password_confirmation": NEW_PASSWORD,
            "rotate_token": "on",
        },
    )
    assert answer.status_code == 200
    token = re.search(r'id="api-token" readonly value="([^"]+)"', answer.text)
    assert token, answer.text
    assert api.get("/api/v1/profile").status_code == 401
    fresh = httpx.get(
        f"{api.url}/api/v1/profile", headers={"api_access_token": token.group(1)}, timeout=30
    )
    assert fresh.status_code == 200
    changer.close()


def test_put_profile_changes_the_password_as_chatwoot_does(api: ApiClient) -> None:
    browser = logged_in(api)
    copied = browser.cookie()
    change = {
        "current_password": api.credentials.password,
        "password": NEW_PASSWORD,
        "password_confirmation": NEW_PASSWORD,
    }
    wrong = api.put("/api/v1/profile", json={**change, "current_password": "nope-nope"})
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "current_password"
    differ = api.put("/api/v1/profile", json={**change, "password_confirmation": "other-one!"})
    assert differ.status_code == 422
    assert differ.json()["errors"][0]["field"] == "password_confirmation"
    short = api.put("/api/v1/profile", json={**change, "password": "short"})
    assert short.status_code == 422
    assert short.json()["errors"][0]["field"] == "password"
    assert opens(api.url, copied)

    done = api.put("/api/v1/profile", json={"profile": change})  # Chatwoot's wrapper
    assert done.status_code == 200, done.text
    assert done.json()["email"] == api.credentials.email
    assert "access_token" not in done.json()
    assert not opens(api.url, copied)
    assert api.get("/api/v1/profile").status_code == 200

    again = {**change, "current_password": NEW_PASSWORD, "rotate_token": True}
    rotated = api.put("/api/v1/profile", json=again)
    assert rotated.status_code == 200, rotated.text
    new_token = rotated.json()["access_token"]
    assert api.get("/api/v1/profile").status_code == 401
    fresh = httpx.get(
        f"{api.url}/api/v1/profile", headers={"api_access_token": new_token}, timeout=30
    )
    assert fresh.status_code == 200
    browser.close()


def _new_agent(admin: Browser, api: ApiClient) -> tuple[Browser, int]:
    """An agent the administrator adds in the dashboard, logged in through their link."""
    email = unique_email("agent")
    form = {"name": "Jo Agent", "email": email, "role": "agent"}
    added = admin.post("/app/settings/agents", form)
    link = re.search(r'id="invite-link" readonly value="([^"]+)"', added.text)
    assert link, added.text
    path = "/" + html.unescape(link.group(1)).split("/", 3)[3]
    agent = Browser(api.url)
    path = agent.http.get(path, follow_redirects=True).url.path  # a join link may redirect
    agent.refresh(path)
    chosen = {"password": "agent-password-1", "password_confirmation": "agent-password-1"}
    assert agent.post(path, chosen).status_code == 303
    agents = api.get("agents").json()
    agent_id = next(a["id"] for a in agents if a["email"] == email)
    return agent, agent_id


def test_removing_an_agent_ends_their_sessions_in_the_account(
    make_account: Callable[..., ApiClient],
) -> None:
    api = make_account()
    admin = logged_in(api)
    agent, agent_id = _new_agent(admin, api)
    copied = agent.cookie()
    assert opens(api.url, copied)
    assert api.delete(f"agents/{agent_id}").status_code == 200
    assert not opens(api.url, copied)
    assert not opens(api.url, copied, "/app/conversations")
    admin.close()
    agent.close()


def test_removal_in_the_dashboard_ends_the_sessions_too(api: ApiClient) -> None:
    admin = logged_in(api)
    agent, agent_id = _new_agent(admin, api)
    copied = agent.cookie()
    admin.refresh(f"/app/settings/agents/{agent_id}/remove")
    assert admin.post(f"/app/settings/agents/{agent_id}/remove").status_code == 303
    assert not opens(api.url, copied)
    admin.close()
    agent.close()


def test_wrong_current_passwords_are_limited_per_user(api: ApiClient) -> None:
    change = {"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD}
    for n in range(10):
        wrong = api.put("/api/v1/profile", json={**change, "current_password": f"guess-{n}"})
        assert wrong.status_code == 422
    limited = api.put("/api/v1/profile", json={**change, "current_password": "guess-x"})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    # The login budget of the address is not spent by them: the user still logs in.
    logged_in(api).close()
