"""The contact's side, as a browser or an app calls it: a widget visitor, its live stream, and a
contact of the public client API. Each comes from a client address of its own
(X-Forwarded-For, which the suite's server trusts from 127.0.0.1), so a test that exhausts an
address's bucket leaves the other tests' buckets alone."""

from __future__ import annotations

import json
import queue
import threading
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.support.client import JSON, ApiClient, ok
from tests.support.factories import widget_inbox

if TYPE_CHECKING:
    from tests.conftest import Backend

LIVE_PATH = "/api/v1/widget/live"


def unique_ip() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


def widget_visitor(api: ApiClient, website_token: str) -> str:
    """A new visitor of the widget, made with `api`'s client: its token (X-Auth-Token)."""
    response = api.post("/api/v1/widget/config", params={"website_token": website_token})
    assert response.status_code == 200, response.text
    token: str = response.json()["auth_token"]
    return token


class WidgetVisitor:
    """One browser's widget: the website token, and the visitor token once config ran (or the
    one given, to act as that visitor from elsewhere)."""

    def __init__(
        self,
        base_url: str,
        website_token: str,
        token: str | None = None,
        ip: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url
        self.website_token = website_token
        self.ip = ip or unique_ip()
        self.http = httpx.Client(base_url=base_url, timeout=timeout)
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

    def start(self) -> WidgetVisitor:
        self.config = self.ok("POST", "config")
        self.token = self.config["auth_token"]
        return self

    def say(self, content: str, **extra: Any) -> JSON:
        message: JSON = self.ok("POST", "messages", json={"content": content, **extra})
        return message

    def messages(self) -> JSON:
        listed: JSON = self.ok("GET", "messages")
        return listed

    def open_stream(self) -> httpx.Response:
        """GET live, the response not yet read (the caller closes it)."""
        params = {"website_token": self.website_token, "auth_token": self.token}
        request = self.http.build_request(
            "GET", LIVE_PATH, params=params, headers={"X-Forwarded-For": self.ip}
        )
        return self.http.send(request, stream=True)

    def close(self) -> None:
        self.http.close()


class LiveStream:
    """A visitor's server-sent events, read in a thread: (event, data) pairs in a queue."""

    def __init__(self, visitor: WidgetVisitor) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.client = httpx.Client(base_url=visitor.base_url, timeout=httpx.Timeout(10.0))
        params = {"website_token": visitor.website_token, "auth_token": visitor.token}
        request = self.client.build_request(
            "GET", LIVE_PATH, params=params, headers={"X-Forwarded-For": visitor.ip}
        )
        self.response = self.client.send(request, stream=True)
        assert self.response.status_code == 200, self.response.read()
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

    def drain(self, wait: float) -> list[tuple[str, Any]]:
        """Everything that arrives within `wait` seconds."""
        seen: list[tuple[str, Any]] = []
        try:
            while True:
                seen.append(self.events.get(timeout=wait))
        except queue.Empty:
            return seen

    def close(self) -> None:
        self.response.close()
        self.client.close()


class PublicContact:
    """A contact of the public client API: its inbox identifier and source_id."""

    def __init__(self, base_url: str, inbox_identifier: str, ip: str | None = None) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30.0)
        self.base = f"/public/api/v1/inboxes/{inbox_identifier}/contacts"
        self.ip = ip or unique_ip()
        self.source_id = ""

    def request(self, method: str, path: str = "", **kwargs: Any) -> httpx.Response:
        headers = {"X-Forwarded-For": self.ip, **kwargs.pop("headers", {})}
        where = f"{self.base}/{self.source_id}{path}" if self.source_id else self.base + path
        return self.http.request(method, where, headers=headers, **kwargs)

    def ok(self, method: str, path: str = "", **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json() if response.content else None

    def create(self, **fields: Any) -> JSON:
        made: JSON = self.ok("POST", json=fields)
        self.source_id = made["source_id"]
        return made

    def close(self) -> None:
        self.http.close()


def public(api: ApiClient, inbox_identifier: str, path: str = "") -> str:
    """The URL of the public client API's contacts of an API inbox, `path` after it."""
    return f"{api.url}/public/api/v1/inboxes/{inbox_identifier}/contacts{path}"


def public_contact(
    anon: httpx.Client, api: ApiClient, inbox_identifier: str, **fields: Any
) -> JSON:
    """A contact made through the public client API (with `anon`, a client without a token)."""
    body = {"name": "Pat Public", **fields}
    contact: JSON = ok(anon.post(public(api, inbox_identifier), json=body))
    return contact


# -- fixtures (declared in tests/conftest.py) ----------------------------------------------------


@pytest.fixture
def anon() -> Iterator[httpx.Client]:
    """A client without any token: the public API is for contacts, not agents."""
    client = httpx.Client(timeout=30.0)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def inbox(api: ApiClient) -> JSON:
    """A website inbox of the test's account."""
    return widget_inbox(api)


@pytest.fixture
def visitors(backend: Backend, inbox: JSON) -> Iterator[list[WidgetVisitor]]:
    """The visitors a test starts with `visit`, closed after it."""
    made: list[WidgetVisitor] = []
    yield made
    for visitor in made:
        visitor.close()


def visit(backend: Backend, inbox: JSON, visitors: list[Any]) -> WidgetVisitor:
    """A new visitor of `inbox`, config done, added to `visitors` (a list the test's fixture
    closes)."""
    visitor = WidgetVisitor(backend.url, inbox["website_token"]).start()
    visitors.append(visitor)
    return visitor
