"""The API client tests use (one account's user, speaking HTTP to a running Voxsig), and the
checks every test makes of an answer: `ok` and `error`."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

TEST_PASSWORD = "correct-horse-battery"
JSON = dict[str, Any]


@dataclass(frozen=True)
class AccountCredentials:
    account_id: int
    user_id: int
    token: str
    email: str
    password: str


def unique_email(prefix: str = "admin") -> str:
    """Each test gets its own users, so tests never see each other's data."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def create_account(
    database_url: str,
    name: str,
    email: str,
    password: str = TEST_PASSWORD,
    user_name: str | None = None,
) -> AccountCredentials:
    """Create an account in-process through Voxsig's own service (faster than the CLI)."""
    from voxsig.accounts.service import create_account as create
    from voxsig.db import Database

    async def run() -> AccountCredentials:
        db = Database(database_url)
        try:
            async with db.transaction() as session:
                made = await create(session, name, email, password, user_name)
        finally:
            await db.dispose()
        return AccountCredentials(
            made.account_id, made.user_id, made.api_access_token, email, password
        )

    return asyncio.run(run())


def issue_token_for(database_url: str, user_id: int) -> str:
    """An API token for an existing user, made in-process (Voxsig has no endpoint for it yet)."""
    from voxsig.db import Database
    from voxsig.models import User
    from voxsig.users.service import issue_token

    async def run() -> str:
        db = Database(database_url)
        try:
            async with db.transaction() as session:
                user = await session.get(User, user_id)
                assert user is not None, f"no user {user_id}"
                return await issue_token(session, user)
        finally:
            await db.dispose()

    return asyncio.run(run())


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The response's JSON (None when empty), after checking its status."""
    request = response.request
    assert response.status_code == status, (
        f"{request.method} {request.url} -> {response.status_code}: {response.text[:800]}"
    )
    return response.json() if response.content else None


def error(response: httpx.Response, status: int) -> JSON:
    """A Voxsig error body: JSON with a message and a list of errors."""
    body = ok(response, status)
    assert isinstance(body, dict), body
    assert isinstance(body.get("message"), str)
    assert body["message"], body
    assert isinstance(body.get("errors"), list), body
    return body


def fields_of(body: JSON) -> list[str]:
    """The fields an error body names."""
    return [e["field"] for e in body["errors"]]


class ApiClient:
    """httpx with the account's token; paths without a leading "/" are under the account."""

    def __init__(self, base_url: str, credentials: AccountCredentials) -> None:
        self.url = base_url
        self.credentials = credentials
        self.account_id = credentials.account_id
        self.user_id = credentials.user_id
        self.token = credentials.token
        self.http = self._new_http()

    def _new_http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=30.0, headers={"api_access_token": self.token}
        )

    def drop_connections(self) -> None:
        """Close pooled keep-alive connections from our side (e.g. before killing the server,
        so the server's port is not left in TIME_WAIT by the kill)."""
        self.http.close()
        self.http = self._new_http()

    def path(self, path: str) -> str:
        if path.startswith("/"):
            return path
        return f"/api/v1/accounts/{self.account_id}/{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, self.path(path), **kwargs)
        if method != "GET" and response.is_success and b'"payload_format"' in response.content:
            self._declare_endpoints(response.json())
        return response

    def _declare_endpoints(self, answer: Any) -> None:
        """Every endpoint an answer shows (an object with `url` and `payload_format`: a
        webhook, an inbox's callback) whose URL is a test receiver's: that receiver then
        checks each body arriving there against the schema this server serves for the
        endpoint's format (receiver.Receiver.expect_format)."""
        from urllib.parse import urlsplit

        from tests.support.receiver import HOST, LISTENING

        stack = [answer]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, dict):
                url, fmt = node.get("url"), node.get("payload_format")
                if isinstance(url, str) and isinstance(fmt, str):
                    parts = urlsplit(url)
                    receiver = LISTENING.get(parts.port or 0)
                    if parts.hostname == HOST and receiver is not None:
                        receiver.expect_format(parts.path or "/", fmt, self.url)
                stack.extend(node.values())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def close(self) -> None:
        self.http.close()

    def __repr__(self) -> str:
        return f"ApiClient({self.url}, account {self.account_id}, user {self.user_id})"


def assert_still_serving(api: ApiClient) -> None:
    """The next ordinary requests, on fresh connections, are answered normally."""
    api.drop_connections()
    health = httpx.get(f"{api.url}/health", timeout=10)
    assert health.status_code == 200, health.text
    profile = api.get("/api/v1/profile")
    assert profile.status_code == 200, profile.text
    assert profile.json()["id"] == api.user_id
