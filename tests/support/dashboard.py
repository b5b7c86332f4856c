"""The dashboard over plain HTTP: a browser without the browser. Cookies, and the CSRF token of
the current session on every form post."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

from tests.support.client import ApiClient

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Dashboard:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30.0)
        self.token = ""

    def refresh_token(self, path: str = "/") -> str:
        found = CSRF.search(self.http.get(path, follow_redirects=True).text)
        assert found, f"no CSRF token on {path}"
        self.token = found.group(1)
        return self.token

    def login(self, email: str, password: str) -> httpx.Response:
        """The login form; on success the token is the new session's."""
        self.refresh_token("/")
        response = self.post("/login", {"email": email, "password": password})
        if response.status_code == 303:
            self.refresh_token("/app/profile")
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def page(self, path: str) -> str:
        """The page's HTML, unescaped, which must answer 200."""
        response = self.http.get(path)
        assert response.status_code == 200, response.text
        return html.unescape(response.text)

    def post(self, path: str, data: dict[str, Any] | None = None) -> httpx.Response:
        """A form post with this session's CSRF token."""
        return self.http.post(path, data={"csrf_token": self.token, **(data or {})})

    def follow(self, path: str, data: dict[str, Any] | None = None) -> str:
        """Posts the form and reads the page it redirects to (with its flash message)."""
        response = self.post(path, data)
        assert response.status_code == 303, response.text
        return self.page(response.headers["location"])

    def close(self) -> None:
        self.http.close()


def logged_in(api: ApiClient) -> Dashboard:
    """A dashboard session of the account's administrator."""
    dashboard = Dashboard(api.url)
    response = dashboard.login(api.credentials.email, api.credentials.password)
    assert response.status_code == 303, response.text
    return dashboard
