"""A widget visitor and a public client API contact, as a browser or an app would call them, each
from a client address of its own (X-Forwarded-For), so per-address limits stay per test."""

from __future__ import annotations

import json
import queue
import threading
import uuid
from typing import Any

import httpx

JSON = dict[str, Any]


def unique_ip() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


def widget_inbox(api: Any, **channel: Any) -> JSON:
    body = {
        "name": "Website",
        "channel": {"type": "web_widget", "website_url": "https://shop.example", **channel},
    }
    response = api.post("inboxes", json=body)
    assert response.status_code == 200, response.text
    inbox: JSON = response.json()
    return inbox


def api_inbox(api: Any) -> JSON:
    response = api.post("inboxes", json={"name": "App", "channel": {"type": "api"}})
    assert response.status_code == 200, response.text
    inbox: JSON = response.json()
    return inbox


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

    def close(self) -> None:
        self.http.close()


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


class LiveEvents:
    """A visitor's server-sent events, read in a thread into a queue of (event, data)."""

    def __init__(self, visitor: WidgetVisitor) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.client = httpx.Client(base_url=visitor.base_url, timeout=httpx.Timeout(10.0))
        params = {"website_token": visitor.website_token, "auth_token": visitor.token}
        self.context = self.client.stream(
            "GET", "/api/v1/widget/live", params=params, headers={"X-Forwarded-For": visitor.ip}
        )
        self.response = self.context.__enter__()
        assert self.response.status_code == 200
        threading.Thread(target=self._read, daemon=True).start()
        assert self.next()[0] == "ready"

    def _read(self) -> None:
        event = ""
        try:
            for line in self.response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    self.events.put((event, json.loads(line[6:])))
        except httpx.HTTPError:
            pass  # closed

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
        self.context.__exit__(None, None, None)
        self.client.close()
