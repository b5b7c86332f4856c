"""The API client tests use: one account's administrator, speaking HTTP to a running Voxsig."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

TEST_PASSWORD = "correct-horse-battery"


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
        return self.http.request(method, self.path(path), **kwargs)

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
