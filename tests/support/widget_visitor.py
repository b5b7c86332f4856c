"""A widget visitor over HTTP (the Widget API as the widget page calls it) and its live stream
read in a thread, for tests of what a contact sees."""

from __future__ import annotations

import json
import queue
import threading
import uuid
from typing import Any

import httpx

from tests.support.client import ApiClient

JSON = dict[str, Any]


def new_widget_inbox(api: ApiClient) -> JSON:
    body = {"name": "Website", "channel": {"type": "web_widget", "website_url": "https://x.io"}}
    response = api.post("inboxes", json=body)
    assert response.status_code == 200, response.text
    inbox: JSON = response.json()
    return inbox


def unique_ip() -> str:
    """A client address of its own (X-Forwarded-For from 127.0.0.1), so per-address limits of
    one test leave the others alone."""
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


class WidgetVisitor:
    """One browser's widget: the website token, and the visitor token once config ran."""

    def __init__(self, base_url: str, website_token: str, ip: str | None = None) -> None:
        self.base_url = base_url
        self.website_token = website_token
        self.ip = ip or unique_ip()
        self.http = httpx.Client(base_url=base_url, timeout=30.0)
        self.token = ""

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
        self.token = self.ok("POST", "config")["auth_token"]
        return self

    def say(self, content: str) -> JSON:
        message: JSON = self.ok("POST", "messages", json={"content": content})
        return message

    def open_stream(self) -> httpx.Response:
        """GET live, the response not yet read (the caller closes it)."""
        params = {"website_token": self.website_token, "auth_token": self.token}
        request = self.http.build_request(
            "GET", "/api/v1/widget/live", params=params, headers={"X-Forwarded-For": self.ip}
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
            "GET", "/api/v1/widget/live", params=params, headers={"X-Forwarded-For": visitor.ip}
        )
        self.response = self.client.send(request, stream=True)
        assert self.response.status_code == 200, self.response.read()
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
        self.response.close()
        self.client.close()
