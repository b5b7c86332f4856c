"""Schemathesis fuzzes every operation of the server's own /openapi.json under /api/v1 (and the
public client API), valid and invalid requests:

- with a valid token and the account's real objects in the paths: no 5xx, and every answer is
  documented: its status, its content type, its body against the declared schema;
- with account A's token and account B's real object ids in the paths, under B's account id (the
  membership check) or A's own (each route's check that the object is in the account): no 5xx,
  nothing of B's in any answer, and B's data (as B reads it, and B's rows in every table)
  exactly as before.

The machinery (hypothesis settings, pins, the order of operations) is tests/support/fuzz.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import Backend
from tests.support.client import ApiClient, assert_still_serving
from tests.support.factories import widget_inbox
from tests.support.fuzz import (
    FOREIGN_EXAMPLES,
    FUZZED_PREFIXES,
    Pins,
    agent_message,
    conformance_checks,
    fuzz_operations,
    public_path_values,
    valid_body,
    widget_question,
)
from tests.support.receiver import Receiver
from tests.support.tenants import BODY_METHODS, TenantB, make_tenant_b, snapshot
from tests.support.widget import widget_visitor


def test_every_api_operation_documents_its_answers(openapi: dict[str, Any]) -> None:
    """What the fuzz checks answers against: every operation's success body is a named model
    (not FastAPI's free-form default, against which anything conforms) or declared empty, and
    every error has the one error shape."""
    problems: list[str] = []
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for path, item in openapi["paths"].items():
        if not path.startswith(FUZZED_PREFIXES):
            continue
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            responses: dict[str, Any] = operation["responses"]
            if not any(status.startswith("2") for status in responses):
                problems.append(f"{where}: no success answer")
            for status, response in responses.items():
                schemas = {m: c.get("schema", {}) for m, c in response.get("content", {}).items()}
                json_schema = schemas.get("application/json")
                if status.startswith("2") and json_schema is not None and "$ref" not in json_schema:
                    problems.append(f"{where} {status}: not a documented model: {json_schema}")
                if status.startswith(("4", "5")) and schemas != {"application/json": error}:
                    problems.append(f"{where} {status}: not the error shape: {schemas}")
            headers = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
            if "api-access-token" in headers:
                problems.append(f"{where}: documents api-access-token, read as api_access_token")
    assert problems == [], "\n".join(problems)
    assert "HTTPValidationError" not in openapi["components"]["schemas"]


def test_every_api_operation_fuzzed_with_a_valid_token_answers_as_documented(
    make_account: Callable[..., ApiClient], receiver: Receiver, openapi: dict[str, Any]
) -> None:
    """schemathesis generates requests, valid and invalid, from the server's own /openapi.json
    for every operation under /api/v1 and of the public client API, with the account's token and
    its real objects in the paths (so that successful answers are checked too, not only 404s):
    none may answer 5xx, and every answer must be documented, body included."""
    own = make_tenant_b(make_account("Acme", "Ada Admin"), receiver)
    api = own.client
    # The fuzz may switch the bot to the other format (schemathesis's requests bypass the
    # ApiClient that tells the receiver each endpoint's format): both are right there.
    bot_url = api.get(f"agent_bots/{own.agent_bot_id}").json()["outgoing_url"]
    receiver.expect_format(urlsplit(bot_url).path, "voxsig", api.url)
    widget = widget_inbox(api, "Website")
    values = {
        "account_id": api.account_id,
        "inbox_id": own.inbox_id,
        "contact_id": own.contact_id,
        "conversation_id": own.conversation_id,
        "message_id": own.message_id,
        "agent_id": own.agent_id,
        "webhook_id": own.webhook_id,
        "delivery_id": own.delivery_id,
        "agent_bot_id": own.agent_bot_id,
        "label": "b-label",
    }
    # Its own API inbox: the fuzz of PATCH inboxes/{inbox_id} may make identity verification
    # mandatory on the other.
    public = public_path_values(api)

    def pins(operation: Any) -> Pins:
        if operation.path.startswith("/public/"):
            return Pins(public)
        if "{message_id}" in operation.path and "/accounts/" in operation.path:
            # A message of its own per operation: an earlier one may have deleted the last.
            return Pins({**values, "message_id": agent_message(api, own.conversation_id)})
        if "/inboxes/{inbox_id}/deliveries/" in operation.path:
            return Pins({**values, "delivery_id": own.callback_delivery_id})
        if "/agent_bots/{agent_bot_id}/deliveries/" in operation.path:
            return Pins({**values, "delivery_id": own.bot_delivery_id})
        if not operation.path.startswith("/api/v1/widget/"):
            return Pins(values)
        token = widget["website_token"]
        query = {"website_token": token}
        if operation.path.endswith("/live"):
            return Pins(values, query)  # no visitor token: a real stream would last a minute
        # A visitor of its own per operation, so the per-visitor rate limit is not reached.
        visitor = widget_visitor(api, token)
        mine = {**values, "message_id": widget_question(api, token, visitor)}
        return Pins(mine, query, {"X-Auth-Token": visitor})

    headers = {"api_access_token": api.token}
    checks = conformance_checks()
    session = requests.Session()
    failures: list[str] = []
    statuses: dict[str, list[int]] = {}

    def call(case: Any) -> int:
        response = case.call(base_url=api.url, session=session, headers=headers, timeout=15)
        statuses.setdefault(case.operation.label, []).append(response.status_code)
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except (AssertionError, BaseExceptionGroup) as exc:  # collect all, report together
            failures.append(f"{case.operation.label}: {str(exc)[:1500]}")
        status: int = response.status_code
        return status

    refused: list[str] = []

    def known_good(operation: Any, pinned: Pins) -> None:
        """One valid request first, so every operation's success answer is checked, whatever
        the generated cases reach."""
        extra: dict[str, Any] = {}
        if operation.method.upper() in BODY_METHODS:
            extra = {"body": valid_body(operation.path, own), "media_type": "application/json"}
        case = operation.Case(
            path_parameters=pinned.path, query=pinned.query, headers=pinned.headers, **extra
        )
        if (status := call(case)) >= 300:
            refused.append(f"{operation.label} -> {status}")

    try:
        tried = fuzz_operations(openapi, pins, call, failures, first=known_good)
    finally:
        session.close()
    for label, seen in statuses.items():
        print(label, sorted(seen))
    assert len(tried) > 60, tried
    assert not failures, "\n".join(failures)
    # The live stream is not opened (no visitor token): it would last a minute.
    assert refused == ["GET /api/v1/widget/live -> 401"], "\n".join(refused)
    assert_still_serving(api)


# -- another account's token ---------------------------------------------------------------------


def row_counts(database_url: str, account_id: int) -> dict[str, int]:
    """How many rows of each table belong to the account, read in-process (as tests create
    accounts): by its `account_id`, or through the foreign key that leads to a row that does
    (users: through their memberships). Other tests' rows (a worker retrying) do not count, nor
    do the installation's own tables."""
    from sqlalchemy import ColumnElement, Table, func, select

    from voxsig.db import Database
    from voxsig.models.base import Base

    tables = Base.metadata.tables
    # Of the installation, not of any account: the delivery workers' heartbeats.
    shared = {"workers"}

    def owned(table: Table) -> ColumnElement[bool]:
        if table.name == "accounts":
            return table.c.id == account_id
        if "account_id" in table.c:
            return table.c.account_id == account_id
        if table.name == "users":
            members = tables["account_users"]
            return table.c.id.in_(
                select(members.c.user_id).where(members.c.account_id == account_id)
            )
        keys = sorted(table.foreign_keys, key=lambda k: k.parent.name)
        assert keys, f"{table.name}: no way to its account; extend row_counts"
        parent = keys[0]
        return parent.parent.in_(select(parent.column).where(owned(parent.column.table)))

    async def run() -> dict[str, int]:
        db = Database(database_url)
        try:
            async with db.transaction() as session:
                return {
                    table.name: await session.scalar(
                        select(func.count()).select_from(table).where(owned(table))
                    )
                    or 0
                    for table in Base.metadata.sorted_tables
                    if table.name not in shared
                }
        finally:
            await db.dispose()

    return asyncio.run(run())


@dataclass
class Victim:
    """Account B: its real objects, and every string in it that nobody else may ever see."""

    tenant: TenantB
    website_token: str
    markers: list[str]

    def leaks(self, text: str) -> list[str]:
        return [m for m in self.markers if m in text]

    def state(self) -> dict[str, Any]:
        """Everything of B's, read with B's own token."""
        b = self.tenant.client
        listings = {
            "profile": b.get("/api/v1/profile").json(),
            "conversations (all)": b.get("conversations", params={"status": "all"}).json(),
            "conversation counts": b.get("conversations/meta", params={"status": "all"}).json(),
            "deliveries, with attempts": [
                b.get(f"webhooks/{self.tenant.webhook_id}/deliveries/{d['id']}").json()
                for d in b.get(f"webhooks/{self.tenant.webhook_id}/deliveries").json()["payload"]
            ],
            "conversation 1": b.get("conversations/1").json(),
            "messages of conversation 1": b.get("conversations/1/messages").json(),
        }
        return {**snapshot(self.tenant), **listings}


@pytest.fixture
def victim(make_account: Callable[..., ApiClient], receiver: Receiver) -> Victim:
    b = make_account("Tenant B", "Bea Boss")
    tenant = make_tenant_b(b, receiver)
    website = widget_inbox(b, "B website")
    widget_visitor(b, website["website_token"])  # a visitor contact, too
    agents = b.get("agents").json()
    hook = b.get(f"webhooks/{tenant.webhook_id}").json()["payload"]["webhook"]
    markers = [
        *tenant.secrets(),
        hook["url"],
        website["website_token"],
        website["hmac_token"],
        *(a["email"] for a in agents),
    ]
    return Victim(tenant, website["website_token"], markers)


@pytest.mark.parametrize("account_in_path", ["B's", "A's own"])
def test_every_api_operation_fuzzed_with_another_accounts_token_reaches_nothing(
    api: ApiClient, backend: Backend, victim: Victim, openapi: dict[str, Any], account_in_path: str
) -> None:
    """Account A's token and B's real object ids in every path, with B's account id (the
    membership check) or A's own (each route's check that the object is in the account):
    schemathesis's requests (valid and invalid) to every /api/v1 operation never answer 5xx,
    nothing of B's in any answer, no success on B's account, and B's data is exactly as it was."""
    b = victim.tenant
    in_b = account_in_path == "B's"
    account_in = b.client.account_id if in_b else api.account_id

    def pins(operation: Any) -> Pins | None:
        # The public client API has no tokens: B's identifiers are B's contacts' to use.
        if not operation.path.startswith("/api/v1/"):
            return None
        return Pins(b.path_values(account_in, operation.path))

    account = b.client.account_id
    before, rows_before = victim.state(), row_counts(backend.database_url, account)
    headers = {"api_access_token": api.token}
    checks = conformance_checks()
    session = requests.Session()
    failures: list[str] = []

    def call(case: Any) -> None:
        response = case.call(base_url=api.url, session=session, headers=headers, timeout=15)
        what = f"{case.operation.label} {case.path_parameters} -> {response.status_code}"
        if leaked := victim.leaks(response.text):
            failures.append(f"{what} carries B's {leaked}: {response.text[:500]}")
        if in_b and "{account_id}" in case.operation.path and response.status_code < 300:
            failures.append(f"{what}: success on B's account: {response.text[:500]}")
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except (AssertionError, BaseExceptionGroup) as exc:
            failures.append(f"{what}: {str(exc)[:1000]}")

    try:
        tried = fuzz_operations(openapi, pins, call, failures, examples=FOREIGN_EXAMPLES)
    finally:
        session.close()
    assert len(tried) > 50, tried
    assert not failures, "\n".join(failures)
    assert row_counts(backend.database_url, account) == rows_before
    assert victim.state() == before
    assert_still_serving(api)
