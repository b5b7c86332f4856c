"""Free-form JSON (custom_attributes, additional_attributes, content_attributes,
submitted_values) has one limit on depth and one on size, on every path that takes it: REST,
the public client API and the widget. Over-deep input is a 422 naming the field, a body too
deep to parse is a 4xx, neither logs a traceback, and a row stored too deep before the limits
existed is still readable everywhere."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Backend
from tests.support.client import ApiClient, ok
from tests.support.widget import WidgetVisitor

JSON = dict[str, Any]
MAX_DEPTH = 10
MAX_BYTES = 16 * 1024
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def deep(levels: int) -> JSON:
    """A dict `levels` containers deep, the outer one included: deep(1) == {}."""
    value: JSON = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def refused(response: httpx.Response, field: str, status: int = 422) -> JSON:
    assert response.status_code == status, f"{response.request.url}: {response.text[:500]}"
    body: JSON = response.json()
    assert field in [e["field"] for e in body["errors"]], body
    return body


class Log:
    """What the server wrote to its log while a test ran."""

    def __init__(self, backend: Backend) -> None:
        self.path = backend.server.log_path
        self.start = len(self.path.read_bytes())

    def since(self) -> str:
        return self.path.read_bytes()[self.start :].decode(errors="replace")

    def assert_no_traceback(self) -> None:
        written = self.since()
        assert "Traceback" not in written, written[-3000:]
        assert "RecursionError" not in written, written[-3000:]


@pytest.fixture
def log(backend: Backend) -> Log:
    return Log(backend)


@pytest.fixture
def site(api: ApiClient) -> JSON:
    inbox: JSON = ok(
        api.post(
            "inboxes",
            json={"name": "Site", "channel": {"type": "web_widget", "website_url": "https://s.x"}},
        )
    )
    return inbox


@pytest.fixture
def visitor(backend: Backend, site: JSON) -> Iterator[WidgetVisitor]:
    made = WidgetVisitor(backend.url, site["website_token"], timeout=60.0).start()
    yield made
    made.http.close()


def _conversation(api: ApiClient, inbox_id: int) -> tuple[int, int]:
    contact = ok(api.post("contacts", json={"name": "Bo", "inbox_id": inbox_id}))
    contact_id = contact["payload"]["contact"]["id"]
    conversation = ok(
        api.post("conversations", json={"inbox_id": inbox_id, "contact_id": contact_id})
    )
    return contact_id, conversation["id"]


# -- the limits on every path ------------------------------------------------------------------


def deep_body(levels: int, field: str, in_list: bool = False, **fields: Any) -> dict[str, Any]:
    """httpx arguments for a JSON body whose `field` is deep(levels) (or [deep(levels)]),
    written as text: json.dumps itself gives up on such values."""
    value = '{"a":' * (levels - 1) + "{}" + "}" * (levels - 1)
    text = json.dumps({**fields, field: "DEEP"}).replace(
        '"DEEP"', f"[{value}]" if in_list else value
    )
    return {"content": text.encode(), "headers": {"content-type": "application/json"}}


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 300, 600, 950])
def test_over_deep_attributes_are_refused_on_every_path(
    api: ApiClient, backend: Backend, site: JSON, visitor: WidgetVisitor, log: Log, levels: int
) -> None:
    contact_id, display_id = _conversation(api, site["id"])
    conversation = {"inbox_id": site["id"], "contact_id": contact_id}
    rest = [
        ("POST", "contacts", "custom_attributes", {"name": "X"}),
        ("PATCH", f"contacts/{contact_id}", "additional_attributes", {}),
        ("POST", "conversations", "additional_attributes", conversation),
        ("PATCH", f"conversations/{display_id}", "custom_attributes", {}),
        ("POST", f"conversations/{display_id}/custom_attributes", "custom_attributes", {}),
        ("POST", f"conversations/{display_id}/messages", "content_attributes", {"content": "hi"}),
        ("PATCH", f"conversations/{display_id}/messages/1", "content_attributes", {}),
    ]
    for method, path, field, fields in rest:
        refused(api.request(method, path, **deep_body(levels, field, **fields)), field)
    # The widget: the visitor's profile, a new conversation, answers to a question.
    widget = [
        ("PATCH", "contact", "custom_attributes", False, {}),
        ("POST", "conversations", "custom_attributes", False, {"content": "hi"}),
        ("PATCH", "messages/1", "submitted_values", False, {}),
        ("PATCH", "messages/1", "submitted_values", True, {}),
    ]
    for method, path, field, in_list, fields in widget:
        refused(visitor.request(method, path, **deep_body(levels, field, in_list, **fields)), field)
    # The public client API, on an API inbox.
    inbox = ok(api.post("inboxes", json={"name": "API", "channel": {"type": "api"}}))
    public = f"/public/api/v1/inboxes/{inbox['inbox_identifier']}"
    http = httpx.Client(base_url=backend.url, timeout=60.0)
    try:
        attributes = deep_body(levels, "custom_attributes")
        refused(http.post(f"{public}/contacts", **attributes), "custom_attributes")
        contact = ok(http.post(f"{public}/contacts", json={"name": "P"}))
        mine = f"{public}/contacts/{contact['source_id']}"
        refused(http.patch(mine, **attributes), "custom_attributes")
        refused(http.post(f"{mine}/conversations", **attributes), "custom_attributes")
        started = ok(http.post(f"{mine}/conversations", json={}))
        answers = deep_body(levels, "submitted_values")
        path = f"{mine}/conversations/{started['id']}/messages/1"
        refused(http.patch(path, **answers), "submitted_values")
    finally:
        http.close()
    # Nothing was stored, every read still works, and nothing was logged as a crash.
    assert ok(api.get(f"contacts/{contact_id}"))["payload"]["additional_attributes"] == {}
    ok(api.get("conversations"))
    ok(api.get("contacts"))
    assert ok(visitor.request("GET", "contact"))
    log.assert_no_traceback()


def test_the_limits_themselves(
    api: ApiClient, site: JSON, visitor: WidgetVisitor, log: Log
) -> None:
    contact_id, display_id = _conversation(api, site["id"])
    at_limit = deep(MAX_DEPTH)
    saved = ok(
        api.patch(f"contacts/{contact_id}", json={"custom_attributes": {"x": at_limit["a"]}})
    )
    assert saved["payload"]["custom_attributes"]["x"] == at_limit["a"]
    ok(visitor.request("PATCH", "contact", json={"custom_attributes": at_limit}))
    # Size: the value as compact JSON, at most 16 KiB.
    fits = {"k": "x" * (MAX_BYTES - 100)}
    ok(api.patch(f"conversations/{display_id}", json={"custom_attributes": fits}))
    too_big = {"k": "x" * MAX_BYTES}
    body = refused(
        api.patch(f"conversations/{display_id}", json={"custom_attributes": too_big}),
        "custom_attributes",
    )
    assert "16 KiB" in body["message"], body
    refused(
        visitor.request("PATCH", "contact", json={"custom_attributes": too_big}),
        "custom_attributes",
    )
    # A list as deep as a dict, and a long but flat list, are both judged the same way.
    refused(
        api.patch(
            f"conversations/{display_id}", json={"custom_attributes": {"l": [[[[[[[[[[[]]]]]]]]]]]}}
        ),
        "custom_attributes",
    )
    refused(
        api.post(f"conversations/{display_id}/labels", json={"labels": ["a" * 200] * 99}), "labels"
    )
    log.assert_no_traceback()


def test_merging_cannot_grow_attributes_past_the_limit(
    api: ApiClient, site: JSON, visitor: WidgetVisitor, log: Log
) -> None:
    """The widget and the contact API merge custom_attributes: each request within the limit
    must not add up to a stored value over it."""
    chunk = "y" * (MAX_BYTES // 3)
    for n in range(2):
        ok(visitor.request("PATCH", "contact", json={"custom_attributes": {f"k{n}": chunk}}))
    refused(
        visitor.request("PATCH", "contact", json={"custom_attributes": {"k9": chunk}}),
        "custom_attributes",
    )
    contact_id = ok(visitor.request("GET", "contact"))["id"]
    stored = ok(api.get(f"contacts/{contact_id}"))["payload"]["custom_attributes"]
    assert sorted(stored) == ["k0", "k1"]
    refused(
        api.patch(f"contacts/{contact_id}", json={"custom_attributes": {"k8": chunk}}),
        "custom_attributes",
    )
    log.assert_no_traceback()


@pytest.mark.parametrize("levels", [10_000, 100_000])
def test_a_body_too_deep_to_parse_is_a_4xx_without_a_traceback(
    api: ApiClient, visitor: WidgetVisitor, log: Log, levels: int
) -> None:
    for text in ("[" * levels + "]" * levels, '{"custom_attributes": ' + "[" * levels):
        headers = {"content-type": "application/json"}
        answer = api.post("contacts", content=text.encode(), headers=headers)
        assert answer.status_code == 400, answer.text[:300]
        assert answer.json()["error"] == "malformed_json", answer.text[:300]
        assert [e["field"] for e in answer.json()["errors"]] == ["body"], answer.text[:300]
        answer = visitor.request("PATCH", "contact", content=text.encode(), headers=headers)
        assert answer.status_code in (400, 422), answer.text[:300]
    ok(api.get("contacts"))
    log.assert_no_traceback()


# -- rows stored too deep by the old code ------------------------------------------------------


def _store_raw(backend: Backend, table: str, column: str, row_id: int, value: str) -> None:
    """Writes JSON text into a row directly, as the code before the limits could."""
    from sqlalchemy import text

    from voxsig.db import Database

    cast = f"CAST(:value AS {'jsonb' if backend.is_postgres else 'text'})"

    async def run() -> None:
        db = Database(backend.database_url)
        try:
            async with db.transaction() as session:
                await session.execute(
                    text(f"UPDATE {table} SET {column} = {cast} WHERE id = :id"),  # noqa: S608
                    {"value": value, "id": row_id},
                )
        finally:
            await db.dispose()

    asyncio.run(run())


def _conversation_row_id(backend: Backend, account_id: int, display_id: int) -> int:
    from sqlalchemy import select

    from voxsig.db import Database
    from voxsig.models import Conversation

    async def run() -> int:
        db = Database(backend.database_url)
        try:
            async with db.transaction() as session:
                found = await session.scalar(
                    select(Conversation.id).where(
                        Conversation.account_id == account_id,
                        Conversation.display_id == display_id,
                    )
                )
        finally:
            await db.dispose()
        assert found is not None
        return found

    return asyncio.run(run())


def _dashboard(api: ApiClient) -> httpx.Client:
    http = httpx.Client(base_url=api.url, timeout=60.0)
    token = CSRF.search(http.get("/").text)
    assert token
    email, password = api.credentials.email, api.credentials.password
    answer = http.post(
        "/login", data={"csrf_token": token.group(1), "email": email, "password": password}
    )
    assert answer.status_code == 303, answer.text[:300]
    return http


@pytest.mark.parametrize("levels", [300, 3000])
def test_rows_stored_too_deep_are_still_readable(
    api: ApiClient, backend: Backend, site: JSON, visitor: WidgetVisitor, log: Log, levels: int
) -> None:
    message = ok(visitor.request("POST", "messages", json={"content": "hello"}))
    display_id = message["conversation_id"]
    contact_id = ok(visitor.request("GET", "contact"))["id"]
    raw = '{"deep": ' + '{"a":' * levels + "{}" + "}" * levels + "}"
    _store_raw(backend, "contacts", "custom_attributes", contact_id, raw)
    _store_raw(backend, "contacts", "additional_attributes", contact_id, raw)
    conversation_id = _conversation_row_id(backend, api.account_id, display_id)
    _store_raw(backend, "conversations", "custom_attributes", conversation_id, raw)
    _store_raw(backend, "conversations", "additional_attributes", conversation_id, raw)
    _store_raw(backend, "messages", "content_attributes", message["id"], raw)
    for path in (
        "conversations",
        f"conversations/{display_id}",
        f"conversations/{display_id}/messages",
        "contacts",
        f"contacts/{contact_id}",
        f"contacts/{contact_id}/conversations",
        "conversations/meta",
    ):
        ok(api.get(path))
    shown = ok(api.get(f"contacts/{contact_id}"))["payload"]["custom_attributes"]
    assert isinstance(shown, dict)
    ok(visitor.request("GET", "messages"))
    ok(visitor.request("GET", "contact"))
    # Writing on top of such a row works too (and the visitor's webhooks render).
    ok(visitor.request("PATCH", "contact", json={"custom_attributes": {"plan": "gold"}}))
    ok(visitor.request("POST", "messages", json={"content": "again"}))
    ok(api.post(f"conversations/{display_id}/messages", json={"content": "reply"}))
    dashboard = _dashboard(api)
    try:
        for page in (
            f"/app/conversations/{display_id}",
            f"/app/contacts/{contact_id}",
            "/app/conversations",
        ):
            answer = dashboard.get(page)
            assert answer.status_code == 200, (page, answer.text[:300])
    finally:
        dashboard.close()
    log.assert_no_traceback()
