"""Tenant isolation, route by route: every operation in /openapi.json is called with another
account's real ids, and must neither answer with nor change that account's data.

The routes come from the running server's /openapi.json, so a new route is walked (or, if it has
a path parameter this module does not know, makes the walk fail) without editing this file.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from tests.support.client import JSON, ApiClient, ok
from tests.support.receiver import Receiver
from tests.support.tenants import (
    ACCOUNT_PREFIX,
    BODY_METHODS,
    PUBLIC_PREFIX,
    TenantA,
    TenantB,
    account_walk_body,
    fill,
    leaks,
    make_tenant_a,
    make_tenant_b,
    operations,
    public_walk_body,
    snapshot,
)

MIN_ACCOUNT_OPERATIONS = 40  # a guard against a walk that silently covers nothing


@pytest.fixture
def tenants(
    api: ApiClient, make_account: Callable[..., ApiClient], receiver: Receiver
) -> tuple[TenantA, TenantB]:
    b = make_account("Tenant B", "Bea Boss")
    return make_tenant_a(api), make_tenant_b(b, receiver)


# -- the walks -----------------------------------------------------------------------------------


def test_account_routes_with_another_accounts_ids_and_token(
    tenants: tuple[TenantA, TenantB], openapi: JSON
) -> None:
    """A's token, B's account id and B's object ids in the path: 401/403/404, no B data."""
    a, b = tenants
    before = snapshot(b)
    ops = operations(openapi, ACCOUNT_PREFIX)
    assert len(ops) >= MIN_ACCOUNT_OPERATIONS, ops
    ops.sort(key=lambda op: op[0] == "DELETE")  # deletions last: they would hide other leaks
    # Valid in B: B's own user, inbox and contact, so that validation would not mask a hole.
    user_b = b.client.user_id
    problems: list[str] = []
    with httpx.Client(base_url=a.client.url, timeout=30.0) as anon:
        for method, template in ops:
            path = fill(template, b.path_values(b.client.account_id, template))
            kwargs: JSON = {"params": {"inbox_id": b.inbox_id, "q": b.contact_email}}
            if method in BODY_METHODS:
                kwargs["json"] = account_walk_body(user_b, b.inbox_id, b.contact_id, template)
            for who, client, allowed in (
                ("A's token", a.client.http, (401, 403, 404)),
                ("no token", anon, (401,)),
            ):
                response = client.request(method, path, **kwargs)
                if response.status_code not in allowed or leaks(response, b.secrets()):
                    problems.append(
                        f"{who}: {method} {path} -> {response.status_code} "
                        f"(leaks {leaks(response, b.secrets())}): {response.text[:300]}"
                    )
    assert problems == [], "\n".join(problems)
    assert snapshot(b) == before


def test_account_routes_with_the_accounts_own_agent_bot_token(
    tenants: tuple[TenantA, TenantB], openapi: JSON
) -> None:
    """B's own bot's token on every route of B's account, aimed at B's main inbox, which the
    bot does not answer: 401 on every route Chatwoot does not open to bots, 404 on those it
    does (not the bot's inbox), never B's data nor a change."""
    _, b = tenants
    before = snapshot(b)
    problems: list[str] = []
    headers = {"api_access_token": b.bot_token}
    with httpx.Client(base_url=b.client.url, timeout=30.0, headers=headers) as bot:
        for method, template in operations(openapi, ACCOUNT_PREFIX):
            path = fill(template, b.path_values(b.client.account_id, template))
            kwargs: JSON = {"params": {"inbox_id": b.inbox_id, "q": b.contact_email}}
            if method in BODY_METHODS:
                body = account_walk_body(b.client.user_id, b.inbox_id, b.contact_id, template)
                kwargs["json"] = body
            response = bot.request(method, path, **kwargs)
            if response.status_code not in (401, 404) or leaks(response, b.secrets()):
                problems.append(f"{method} {path} -> {response.status_code}: {response.text[:300]}")
    assert problems == [], "\n".join(problems)
    assert snapshot(b) == before


def test_account_routes_with_own_account_but_another_accounts_object_ids(
    tenants: tuple[TenantA, TenantB], openapi: JSON
) -> None:
    """A's token and account id, B's object ids in the path: 404 (422 for a body), never 2xx."""
    a, b = tenants
    before = snapshot(b)
    # B's conversation is number 2: account A has only number 1.
    ops = [
        (m, t)
        for m, t in operations(openapi, ACCOUNT_PREFIX)
        if set(re.findall(r"{(\w+)}", t)) - {"account_id"}
    ]
    assert len(ops) >= 25, ops
    ops.sort(key=lambda op: op[0] == "DELETE")
    problems: list[str] = []
    for method, template in ops:
        path = fill(template, b.path_values(a.client.account_id, template))
        kwargs: JSON = {}
        if method in BODY_METHODS:
            # Valid in A: only the path's foreign object id is wrong.
            kwargs["json"] = account_walk_body(a.client.user_id, a.inbox_id, a.contact_id, template)
        response = a.client.request(method, path, **kwargs)
        allowed = (404, 422) if method in BODY_METHODS else (404,)
        if response.status_code not in allowed or leaks(response, b.secrets()):
            problems.append(
                f"{method} {path} -> {response.status_code} "
                f"(leaks {leaks(response, b.secrets())}): {response.text[:300]}"
            )
    assert problems == [], "\n".join(problems)
    assert snapshot(b) == before


def test_own_account_requests_that_reference_another_accounts_objects(
    tenants: tuple[TenantA, TenantB],
) -> None:
    """B's ids inside A's bodies and filters: refused or empty, never B's data."""
    a, b = tenants
    before = snapshot(b)
    api = a.client
    refused = [
        api.post("conversations", json={"inbox_id": b.inbox_id, "contact_id": b.contact_id}),
        api.post("conversations", json={"inbox_id": a.inbox_id, "contact_id": b.contact_id}),
        api.post("conversations", json={"inbox_id": a.inbox_id, "source_id": b.source_id}),
        api.post("conversations", json={"inbox_id": b.inbox_id, "source_id": b.source_id}),
        api.post("contacts", json={"name": "x", "inbox_id": b.inbox_id}),
        api.post(
            "webhooks",
            json={
                "url": "http://127.0.0.1:9/a",
                "subscriptions": ["message_created"],
                "inbox_id": b.inbox_id,
            },
        ),
        api.post("conversations/1/assignments", json={"assignee_id": b.client.user_id}),
        api.post("conversations/1/assignments", json={"assignee_id": b.agent_id}),
        api.patch("conversations/1", json={"assignee_id": b.agent_id}),
        api.patch(f"conversations/1/messages/{b.message_id}", json={"content": "x"}),
        api.delete(f"conversations/1/messages/{b.message_id}"),
    ]
    problems = [
        f"{r.request.method} {r.request.url} {r.request.content[:200]!r} -> {r.status_code}: "
        f"{r.text[:300]}"
        for r in refused
        if r.status_code not in (404, 422) or leaks(r, b.secrets())
    ]
    filtered = [
        api.get("conversations", params={"inbox_id": b.inbox_id, "status": "all"}),
        api.get("conversations/meta", params={"inbox_id": b.inbox_id, "status": "all"}),
        api.get("conversations", params={"q": b.contact_email, "status": "all"}),
        api.get("contacts/search", params={"q": b.contact_email}),
        api.get("contacts/search", params={"q": b.contact_name}),
        api.get("conversations/1/messages", params={"after": 0}),
        api.get("inboxes"),
        api.get("agents"),
        api.get("webhooks"),
        api.get("/api/v1/profile"),
    ]
    problems += [
        f"GET {r.request.url} -> {r.status_code}: {r.text[:300]}"
        for r in filtered
        if r.status_code != 200 or leaks(r, b.secrets())
    ]
    assert problems == [], "\n".join(problems)
    counts = ok(api.get("conversations/meta", params={"inbox_id": b.inbox_id, "status": "all"}))
    assert counts["meta"]["all_count"] == 0
    assert snapshot(b) == before
    assert [a["id"] for a in ok(api.get("agents"))] == [api.user_id]


def test_public_routes_with_a_contact_of_another_inbox(
    tenants: tuple[TenantA, TenantB], openapi: JSON
) -> None:
    """B's inbox identifier with a source_id from another inbox (B's or A's), or B's contact
    with another contact's conversation: 404, and B's data unchanged."""
    a, b = tenants
    before = snapshot(b)
    ops = [(m, t) for m, t in operations(openapi, PUBLIC_PREFIX) if "{contact_identifier}" in t]
    assert len(ops) >= 8, ops
    ops.sort(key=lambda op: op[0] == "DELETE")
    cases: list[tuple[str, JSON, bool]] = [
        # (what, path values, only routes under a conversation)
        (
            "B's inbox, a contact of B's other inbox",
            {"inbox_identifier": b.inbox_identifier, "contact_identifier": b.other_inbox_source_id},
            False,
        ),
        (
            "B's inbox, a contact of A's inbox",
            {"inbox_identifier": b.inbox_identifier, "contact_identifier": a.source_id},
            False,
        ),
        (
            "A's inbox, B's contact",
            {"inbox_identifier": a.inbox_identifier, "contact_identifier": b.source_id},
            False,
        ),
        (
            "B's inbox, B's other contact, this contact's conversation",
            {"inbox_identifier": b.inbox_identifier, "contact_identifier": b.sibling_source_id},
            True,
        ),
    ]
    problems: list[str] = []
    walked = 0
    with httpx.Client(base_url=b.client.url, timeout=30.0) as anon:
        for what, values, conversation_routes_only in cases:
            values = {**values, "conversation_id": b.conversation_id, "message_id": b.message_id}
            for method, template in ops:
                if conversation_routes_only and "{conversation_id}" not in template:
                    continue
                path = fill(template, values)
                kwargs: JSON = {"json": public_walk_body()} if method in BODY_METHODS else {}
                response = anon.request(method, path, **kwargs)
                walked += 1
                if response.status_code != 404 or leaks(response, b.secrets()):
                    problems.append(
                        f"{what}: {method} {path} -> {response.status_code}: {response.text[:300]}"
                    )
    assert walked >= 30
    assert problems == [], "\n".join(problems)
    assert snapshot(b) == before


def test_public_api_with_the_right_contact_still_hides_private_notes(
    tenants: tuple[TenantA, TenantB],
) -> None:
    """The control for the walk above: the same routes work for the contact they belong to."""
    _, b = tenants
    base = (
        f"{b.client.url}/public/api/v1/inboxes/{b.inbox_identifier}/contacts/{b.source_id}"
        f"/conversations/{b.conversation_id}"
    )
    listed = ok(httpx.get(f"{base}/messages"))
    contents = [m["content"] for m in listed]
    assert b.message_text in contents
    assert b.private_text not in contents
    assert b.private_text not in httpx.get(base).text


# -- controls: the walks above would catch a hole ------------------------------------------------


def test_control_the_walked_paths_reach_real_objects(
    tenants: tuple[TenantA, TenantB], openapi: JSON
) -> None:
    """B's own token on the very paths of the walk: every GET answers 200 with B's data, so the
    404s above come from the tenancy checks, not from paths that point nowhere."""
    _, b = tenants
    values = {
        "account_id": b.client.account_id,
        "inbox_id": b.inbox_id,
        "contact_id": b.contact_id,
        "conversation_id": b.conversation_id,
        "agent_id": b.agent_id,
        "webhook_id": b.webhook_id,
        "delivery_id": b.delivery_id,
        "inbox_identifier": b.inbox_identifier,
        "contact_identifier": b.source_id,
    }
    gets = [
        t
        for m, t in operations(openapi, ACCOUNT_PREFIX) + operations(openapi, PUBLIC_PREFIX)
        if m == "GET"
    ]
    assert len(gets) >= 15, gets
    failures = []
    for template in gets:
        # A callback's delivery under …/inboxes/{inbox_id}/deliveries.
        own = {**values, **b.path_values(b.client.account_id, template)}
        response = b.client.get(fill(template, own))
        if response.status_code != 200:
            failures.append(f"GET {template} -> {response.status_code}: {response.text[:200]}")
    assert failures == [], "\n".join(failures)
    shown = b.client.get(fill(f"{ACCOUNT_PREFIX}/contacts/{{contact_id}}", values)).text
    assert b.contact_email in shown


def test_control_the_walk_bodies_are_accepted_by_their_own_account(
    make_account: Callable[..., ApiClient], receiver: Receiver, openapi: JSON
) -> None:
    """The walk's bodies, sent by an account to its own objects, succeed: so in the walks above
    a 404 cannot be a validation error in disguise (which would hide a missing check)."""
    c = make_tenant_b(make_account("Control", "Cal Control"), receiver)
    values = {
        "account_id": c.client.account_id,
        "inbox_id": c.inbox_id,
        "contact_id": c.contact_id,
        "conversation_id": c.conversation_id,
        "message_id": c.message_id,
        "agent_id": c.agent_id,
        "webhook_id": c.webhook_id,
        "delivery_id": c.delivery_id,
    }
    failures = []
    for method, template in operations(openapi, ACCOUNT_PREFIX):
        if method not in BODY_METHODS:
            continue
        body = account_walk_body(c.client.user_id, c.inbox_id, c.contact_id, template)
        own = {**values, **c.path_values(c.client.account_id, template)}
        response = c.client.request(method, fill(template, own), json=body)
        if not response.is_success:
            failures.append(f"{method} {template} -> {response.status_code}: {response.text[:300]}")
    assert failures == [], "\n".join(failures)
    public_contact = f"{PUBLIC_PREFIX}/contacts/{{contact_identifier}}"
    public_values = {
        "inbox_identifier": c.inbox_identifier,
        "contact_identifier": c.source_id,
        "conversation_id": c.conversation_id,
    }
    for method, template in operations(openapi, public_contact):
        if method not in BODY_METHODS or "{message_id}" in template:
            continue
        response = c.client.request(method, fill(template, public_values), json=public_walk_body())
        if not response.is_success:
            failures.append(f"{method} {template} -> {response.status_code}: {response.text[:300]}")
    assert failures == [], "\n".join(failures)
