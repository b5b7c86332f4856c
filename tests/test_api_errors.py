"""The error contract over real HTTP (422 bodies that name the field, malformed JSON, body size,
unknown and out-of-range ids, NUL characters, tokens) and the service endpoints."""

from __future__ import annotations

import httpx

from tests.conftest import Backend
from tests.support.client import JSON, ApiClient, error, fields_of, ok, unique_email
from tests.support.factories import (
    setup_thread,
)
from tests.support.widget import public, public_contact

MIB = 1024 * 1024


def test_422_bodies_name_the_bad_field(api: ApiClient) -> None:
    inbox, _, conversation = setup_thread(api)
    cid = conversation["id"]
    cases: list[tuple[str, str, JSON, str]] = [
        ("POST", "inboxes", {"name": "", "channel": {"type": "api"}}, "name"),
        ("POST", "inboxes", {"name": "x", "channel": {"type": "sms"}}, "channel.type"),
        ("POST", "inboxes", {"name": "x"}, "channel"),
        ("POST", "contacts", {"name": "x", "email": "not-an-email"}, "email"),
        ("POST", "contacts", {"name": "x", "phone_number": "12345"}, "phone_number"),
        ("POST", "conversations", {"contact_id": 1}, "inbox_id"),
        ("POST", "agents", {"name": "x", "email": unique_email(), "role": "owner"}, "role"),
        ("POST", f"conversations/{cid}/toggle_status", {"status": "closed"}, "status"),
        ("POST", f"conversations/{cid}/labels", {"labels": ["has space"]}, "labels"),
        ("POST", f"conversations/{cid}/assignments", {"assignee_id": "me"}, "assignee_id"),
        ("POST", f"conversations/{cid}/toggle_priority", {"priority": "critical"}, "priority"),
        ("PATCH", f"conversations/{cid}", {"priority": "critical"}, "priority"),
        (
            "POST",
            f"conversations/{cid}/messages",
            {"content": "x", "message_type": []},
            "message_type",
        ),
        ("PATCH", f"inboxes/{inbox['id']}", {"widget_color": "red"}, "widget_color"),
        (
            "POST",
            "webhooks",
            {"url": "ftp://x.example", "subscriptions": ["message_created"]},
            "url",
        ),
        (
            "POST",
            "webhooks",
            {"url": "https://x.example", "subscriptions": ["nope"]},
            "subscriptions",
        ),
    ]
    wrong: list[str] = []
    for method, path, body, field in cases:
        response = api.request(method, path, json=body)
        problem = error(response, 422)
        assert problem["error"] == "validation_failed", (path, problem)
        assert all(e["message"] for e in problem["errors"]), problem
        # Each body has one bad field: every error names exactly that field.
        if set(fields_of(problem)) != {field}:
            wrong.append(f"{method} {path} {body}: fields {fields_of(problem)}, not {field!r}")
    assert wrong == [], "\n".join(wrong)


def test_malformed_json_is_400_with_a_json_body(api: ApiClient) -> None:
    for path in ("inboxes", "contacts", "webhooks"):
        response = api.post(
            path, content=b'{"name": "Site", ', headers={"content-type": "application/json"}
        )
        body = error(response, 400)
        assert response.headers["content-type"].startswith("application/json")
        assert body["error"] == "malformed_json"
    assert ok(api.get("inboxes"))["payload"] == []


def test_a_2_mib_body_is_413(api: ApiClient) -> None:
    body = b'{"name": "' + b"x" * (2 * MIB) + b'", "channel": {"type": "api"}}'
    response = api.post("inboxes", content=body, headers={"content-type": "application/json"})
    problem = error(response, 413)
    assert problem["error"] == "payload_too_large"
    assert ok(api.get("inboxes"))["payload"] == []


def test_unknown_ids_are_404(api: ApiClient) -> None:
    missing = 987_654_321
    for method, path in [
        ("GET", f"inboxes/{missing}"),
        ("PATCH", f"inboxes/{missing}"),
        ("DELETE", f"inboxes/{missing}"),
        ("GET", f"contacts/{missing}"),
        ("PATCH", f"contacts/{missing}"),
        ("DELETE", f"contacts/{missing}"),
        ("GET", f"contacts/{missing}/conversations"),
        ("GET", f"conversations/{missing}"),
        ("PATCH", f"conversations/{missing}"),
        ("GET", f"conversations/{missing}/messages"),
        ("POST", f"conversations/{missing}/messages"),
        ("POST", f"conversations/{missing}/toggle_status"),
        ("POST", f"conversations/{missing}/labels"),
        ("PATCH", f"messages/{missing}"),
        ("DELETE", f"messages/{missing}"),
        ("GET", f"agents/{missing}"),
        ("DELETE", f"agents/{missing}"),
        ("GET", f"webhooks/{missing}"),
        ("DELETE", f"webhooks/{missing}"),
        ("GET", f"/api/v1/accounts/{missing}/inboxes"),
        ("GET", "/api/v1/no-such-route"),
    ]:
        kwargs: JSON = {}
        if method in ("POST", "PATCH"):
            kwargs["json"] = {"content": "x", "name": "x", "labels": ["x"]}
        problem = error(api.request(method, path, **kwargs), 404)
        assert problem["error"] == "not_found", (method, path, problem)


def test_ids_beyond_32_and_64_bits_are_404_not_500(api: ApiClient, anon: httpx.Client) -> None:
    """Ids are arbitrary integers to a client: one no row has is 404, whatever its size."""
    inbox, contact, conversation = setup_thread(api)
    cid = conversation["id"]
    visitor = public_contact(anon, api, inbox["inbox_identifier"])
    public_conversations = public(api, inbox["inbox_identifier"], f"/{visitor['source_id']}")
    wrong: list[str] = []
    for big in (2**31, 2**63):
        for method, path, body, allowed in [
            ("GET", f"inboxes/{big}", None, (404,)),
            ("GET", f"contacts/{big}", None, (404,)),
            ("GET", f"conversations/{big}", None, (404,)),
            ("PATCH", f"messages/{big}", {"content": "x"}, (404,)),
            ("GET", f"agents/{big}", None, (404,)),
            ("GET", f"webhooks/{big}", None, (404,)),
            ("GET", f"/api/v1/accounts/{big}/inboxes", None, (404,)),
            ("POST", "conversations", {"inbox_id": big, "contact_id": contact["id"]}, (404, 422)),
            ("POST", "contacts", {"name": "x", "inbox_id": big}, (404, 422)),
            ("POST", f"conversations/{cid}/assignments", {"assignee_id": big}, (422,)),
            ("GET", f"conversations?inbox_id={big}", None, (200, 422)),
            ("GET", f"conversations/{cid}/messages?before={big}", None, (200, 422)),
            ("GET", f"{public_conversations}/conversations/{big}", None, (404,)),
        ]:
            # Connection: close, so that one failure cannot break the next request's connection.
            headers = {"connection": "close"}
            if path.startswith("http"):
                response = anon.request(method, path, json=body, headers=headers)
            else:
                response = api.request(method, path, json=body, headers=headers)
            if response.status_code not in allowed:
                wrong.append(f"{method} {path} {body} -> {response.status_code}, not {allowed}")
    assert wrong == [], "\n".join(wrong)


def test_text_with_a_nul_character_is_stored_or_refused_not_a_500(api: ApiClient) -> None:
    """PostgreSQL text cannot hold U+0000: Voxsig must refuse it (422) or store it, not crash."""
    _, _, conversation = setup_thread(api)
    wrong: list[str] = []
    for path, body, field in [
        ("contacts", {"name": "nul\u0000name"}, "name"),
        (f"conversations/{conversation['id']}/messages", {"content": "x\u0000y"}, "content"),
    ]:
        response = api.post(path, json=body, headers={"connection": "close"})
        if response.status_code == 422:
            if field not in fields_of(response.json()):
                wrong.append(f"POST {path} -> 422 not naming {field}: {response.text[:200]}")
        elif not response.is_success:
            wrong.append(f"POST {path} {body!r} -> {response.status_code}: {response.text[:200]}")
    assert wrong == [], "\n".join(wrong)


def test_an_out_of_range_snoozed_until_is_422(api: ApiClient) -> None:
    _, _, conversation = setup_thread(api)
    cid = conversation["id"]
    wrong: list[str] = []
    for method, path, body in [
        ("PATCH", f"conversations/{cid}", {"status": "snoozed", "snoozed_until": 1e30}),
        (
            "POST",
            f"conversations/{cid}/toggle_status",
            {"status": "snoozed", "snoozed_until": 1e30},
        ),
        (
            "POST",
            f"conversations/{cid}/toggle_status",
            {"status": "snoozed", "snoozed_until": 1e14},
        ),
    ]:
        response = api.request(method, path, json=body, headers={"connection": "close"})
        if response.status_code != 422 or "snoozed_until" not in fields_of(response.json()):
            wrong.append(f"{method} {path} {body} -> {response.status_code}: {response.text[:200]}")
    assert wrong == [], "\n".join(wrong)
    assert ok(api.get(f"conversations/{cid}"))["status"] == "open"


def test_missing_or_wrong_token_is_401(api: ApiClient) -> None:
    for headers in ({}, {"api_access_token": "nope"}, {"authorization": "Bearer nope"}):
        response = httpx.get(f"{api.url}{api.path('inboxes')}", headers=headers)
        assert error(response, 401)["error"] == "unauthorized"
    bearer = httpx.get(
        f"{api.url}{api.path('inboxes')}", headers={"authorization": f"Bearer {api.token}"}
    )
    assert ok(bearer)["payload"] == []


def test_health(backend: Backend) -> None:
    body = ok(httpx.get(f"{backend.url}/health"))
    assert body["status"] == "ok"
    assert isinstance(body["version"], str)
    assert body["version"]


def test_openapi_lists_the_paths(backend: Backend) -> None:
    paths = ok(httpx.get(f"{backend.url}/openapi.json"))["paths"]
    account = "/api/v1/accounts/{account_id}"
    contact = "/public/api/v1/inboxes/{inbox_identifier}/contacts/{contact_identifier}"
    expected = {
        "/api/v1/profile": {"get"},
        f"{account}/agents": {"get", "post"},
        f"{account}/agents/{{agent_id}}": {"get", "patch", "delete"},
        f"{account}/inboxes": {"get", "post"},
        f"{account}/inboxes/{{inbox_id}}": {"get", "patch", "delete"},
        f"{account}/contacts": {"get", "post"},
        f"{account}/contacts/search": {"get"},
        f"{account}/contacts/{{contact_id}}": {"get", "put", "patch", "delete"},
        f"{account}/conversations": {"get", "post"},
        f"{account}/conversations/meta": {"get"},
        f"{account}/conversations/{{conversation_id}}": {"get", "patch"},
        f"{account}/conversations/{{conversation_id}}/toggle_status": {"post"},
        f"{account}/conversations/{{conversation_id}}/toggle_priority": {"post"},
        f"{account}/conversations/{{conversation_id}}/assignments": {"post"},
        f"{account}/conversations/{{conversation_id}}/labels": {"get", "post"},
        f"{account}/conversations/{{conversation_id}}/messages": {"get", "post"},
        f"{account}/conversations/{{conversation_id}}/messages/{{message_id}}": {"patch", "delete"},
        f"{account}/messages/{{message_id}}": {"patch", "delete"},
        f"{account}/webhooks": {"get", "post"},
        f"{account}/webhooks/{{webhook_id}}": {"get", "patch", "put", "delete"},
        "/public/api/v1/inboxes/{inbox_identifier}/contacts": {"post"},
        contact: {"get", "patch"},
        f"{contact}/conversations": {"get", "post"},
        f"{contact}/conversations/{{conversation_id}}": {"get"},
        f"{contact}/conversations/{{conversation_id}}/toggle_status": {"post"},
        f"{contact}/conversations/{{conversation_id}}/messages": {"get", "post"},
        "/health": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, f"{path} missing from /openapi.json"
        assert methods <= set(paths[path]), (path, sorted(paths[path]))
