"""Hostile input over the wire: oversized, deeply nested and malformed JSON, wrong content types,
huge headers and invalid UTF-8 each get a clear 4xx (never a 5xx), and the server answers the
next ordinary request.

Then schemathesis fuzzes every operation of the server's own /openapi.json under /api/v1 (and the
public client API), valid and invalid requests:

- with a valid token and the account's real objects in the paths: no 5xx, and every answer is
  documented: its status, its content type, its body against the declared schema;
- with account A's token and account B's real object ids in the paths, under B's account id (the
  membership check) or A's own (each route's check that the object is in the account): no 5xx,
  nothing of B's in any answer, and B's data (as B reads it, and B's rows in every table)
  exactly as before.

Requests the fuzz once found answered with 500 are also kept as plain regression tests.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import requests

from tests.conftest import Backend
from tests.support.client import ApiClient, unique_email
from tests.support.receiver import Receiver
from tests.test_isolation import (
    BODY_METHODS,
    TenantB,
    account_walk_body,
    make_tenant_b,
    public_walk_body,
    snapshot,
)
from tests.test_webhook_events import new_conversation

HOST = "127.0.0.1"
MiB = 1024 * 1024


def assert_client_error(response: httpx.Response, what: str) -> None:
    request = response.request
    assert 400 <= response.status_code < 500, (
        f"{what}: {request.method} {request.url} -> {response.status_code}: {response.text[:500]}"
    )


def assert_still_serving(api: ApiClient) -> None:
    """The next ordinary requests, on fresh connections, are answered normally."""
    api.drop_connections()
    health = httpx.get(f"{api.url}/health", timeout=10)
    assert health.status_code == 200, health.text
    profile = api.get("/api/v1/profile")
    assert profile.status_code == 200, profile.text
    assert profile.json()["id"] == api.user_id


def raw_request(port: int, request: bytes, timeout: float = 10.0) -> bytes:
    """Sends bytes as they are (no client library would send some of these) and returns the
    whole answer, up to the server closing the connection or answering once."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks: list[bytes] = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), f"not an HTTP answer: {answer[:200]!r}"
    return int(answer.split(b" ", 2)[1])


@pytest.fixture
def messages_path(api: ApiClient) -> str:
    return f"conversations/{new_conversation(api).conversation_id}/messages"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


BODIES: dict[str, tuple[bytes, str | None]] = {
    "oversized": (b'{"content": "' + b"x" * (2 * MiB) + b'"}', "application/json"),
    "deeply nested": (f'{{"content": {nested(10_000)}}}'.encode(), "application/json"),
    "nested at top": (nested(10_000).encode(), "application/json"),
    "malformed": (b'{"content": "unterminated', "application/json"),
    "trailing garbage": (b'{"content": "hi"} }}', "application/json"),
    "not an object": (b'"just a string"', "application/json"),
    "empty": (b"", "application/json"),
    "text/plain": (b'{"content": "hi"}', "text/plain"),
    "multipart": (
        b'--xyz\r\nContent-Disposition: form-data; name="content"\r\n\r\nhi\r\n--xyz--\r\n',
        "multipart/form-data; boundary=xyz",
    ),
    "form": (b"content=hi", "application/x-www-form-urlencoded"),
    "no content-type": (b'{"content": "hi"}', None),
    "invalid utf-8": (b'{"content": "\xff\xfe\xc3\x28 bad"}', "application/json"),
    "lone surrogate": (b'{"content": "\\ud800"}', "application/json"),
    "nul in string": (b'{"content": "a\\u0000b"}', "application/json"),
}


@pytest.mark.parametrize("case", list(BODIES))
def test_a_hostile_body_gets_a_clear_4xx_and_the_server_stays_up(
    api: ApiClient, backend: Backend, messages_path: str, case: str
) -> None:
    body, content_type = BODIES[case]
    headers = {"content-type": content_type} if content_type else {}
    response = api.post(messages_path, content=body, headers=headers)
    if response.status_code == 200:
        # Some of these are legitimately accepted (e.g. JSON without a content type): fine,
        # as long as what was stored is what was sent.
        assert case in {"no content-type", "text/plain", "nul in string", "lone surrogate"}, (
            f"{case}: accepted {response.text[:300]}"
        )
    else:
        assert_client_error(response, case)
        payload = response.json()
        assert payload["error"], payload
        assert payload["message"], payload
    assert_still_serving(api)


def test_a_huge_header_is_refused_and_the_server_stays_up(api: ApiClient, backend: Backend) -> None:
    try:
        response = api.get("/api/v1/profile", headers={"x-padding": "a" * 65536})
    except httpx.RemoteProtocolError:
        pass  # the server closed the connection on it: refused, nothing to parse
    else:
        assert_client_error(response, "64 KB header")
    answer = raw_request(
        backend.server.port,
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 65536 + b"\r\n\r\n",
    )
    if answer:
        assert 400 <= status_of(answer) < 500, answer[:300]
    assert_still_serving(api)


@pytest.mark.parametrize(
    "target",
    [
        b"/api/v1/accounts/%ff%fe/contacts",
        b"/api/v1/profile?q=%ff%fe%c3%28",
        b"/api/v1/accounts/{account}/contacts/search?q=%c3%28",
        b"/api/v1/accounts/{account}/contacts/\xff\xfe",
        b"/api/v1/accounts/{account}/contacts?page=%00",
    ],
    ids=["path-escaped", "query-escaped", "search-query", "raw-bytes", "nul"],
)
def test_invalid_utf8_in_the_url_gets_a_4xx_and_the_server_stays_up(
    api: ApiClient, backend: Backend, target: bytes
) -> None:
    target = target.replace(b"{account}", str(api.account_id).encode())
    answer = raw_request(
        backend.server.port,
        b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"api_access_token: " + api.token.encode() + b"\r\nConnection: close\r\n\r\n",
    )
    status = status_of(answer)
    assert status < 500, answer[:500]
    assert status != 200 or b"%00" not in target, answer[:500]
    assert_still_serving(api)


def test_what_the_fuzz_found_is_answered_without_a_5xx(api: ApiClient) -> None:
    """Requests the fuzz below once answered with 500: a null where the column is never null,
    and an identity hash with characters beyond ASCII."""
    setup = new_conversation(api)
    message = api.post(f"conversations/{setup.conversation_id}/messages", json={"content": "hi"})
    assert message.status_code == 200, message.text
    edited = api.patch(f"messages/{message.json()['id']}", json={"status": None, "content": "x"})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["status"], edited.json()["content"]) == ("sent", "x")

    cleared = api.patch(f"contacts/{setup.contact_id}", json={"name": None, "avatar_url": None})
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["payload"]["name"], cleared.json()["payload"]["avatar_url"]) == ("", "")

    inbox = api.post("inboxes", json={"name": "API", "channel": {"type": "api"}})
    assert inbox.status_code == 200, inbox.text
    public = f"/public/api/v1/inboxes/{inbox.json()['inbox_identifier']}/contacts"
    claimed = api.post(public, json={"identifier": "u-1", "identifier_hash": "é" * 64})
    assert claimed.status_code == 401, claimed.text
    widget = widget_inbox(api, "Website")
    token = widget["website_token"]
    user = api.patch(
        "/api/v1/widget/contact/set_user",
        params={"website_token": token},
        headers={"X-Auth-Token": widget_visitor(api, token)},
        json={"identifier": "u-1", "identifier_hash": "ü"},
    )
    assert user.status_code == 401, user.text
    assert_still_serving(api)


# -- schema-driven fuzz ---------------------------------------------------------------------


@pytest.fixture
def openapi(backend: Backend) -> dict[str, Any]:
    backend.ensure_running()
    response = httpx.get(f"{backend.url}/openapi.json", timeout=10)
    assert response.status_code == 200, response.text[:300]
    document: dict[str, Any] = response.json()
    return document


FUZZ_EXAMPLES = 5  # per operation and mode, with the account's own token
FOREIGN_EXAMPLES = 3  # per operation and mode, with another account's (all refused: cheaper)
FUZZ_BUDGET = 150.0  # seconds for every operation of one test together: a guard against a hang
FUZZED_PREFIXES = ("/api/v1/", "/public/api/v1/")


def fuzz_operation(
    operation: Any,
    mode: Any,
    pinned: dict[str, Any],
    call: Callable[[Any], Any],
    query: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
    examples: int = FUZZ_EXAMPLES,
) -> None:
    """Runs hypothesis over one operation's generated cases (a few, reproducibly)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    strategy = operation.as_strategy(
        generation_mode=mode, path_parameters=pinned, query=query, headers=headers
    )

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def probe(case: Any) -> None:
        call(case)

    try:
        probe()
    except Unsatisfiable:
        # Nothing in this operation can be made invalid (e.g. no parameters and no body).
        if mode != GenerationMode.NEGATIVE:
            raise


def conformance_checks() -> list[Any]:
    """No 5xx, and the answer is the documented one: status, content type and body schema."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]


@dataclass
class Pins:
    """What one operation's cases carry as given: path values, query values, headers."""

    path: dict[str, Any]
    query: dict[str, Any] | None = None
    headers: dict[str, Any] | None = None


def deletions_last(operation: Any) -> tuple[bool, bool, bool]:
    """Deletions last (they would leave the other operations nothing to reach), and of them the
    contact, then the inbox (whose conversations go with them), last of all."""
    deletes = operation.method.upper() == "DELETE"
    path = operation.path
    return (deletes, deletes and "/inboxes/" in path, deletes and "/contacts/" in path)


def fuzz_operations(
    openapi: dict[str, Any],
    pins: Callable[[Any], Pins | None],
    call: Callable[[Any], Any],
    failures: list[str],
    first: Callable[[Any, Pins], None] | None = None,
    examples: int = FUZZ_EXAMPLES,
) -> list[str]:
    """Every fuzzed operation, valid then invalid cases; returns their labels. `pins` gives an
    operation's fixed values, or None to leave it out; `first` is sent before its cases."""
    schemathesis = pytest.importorskip("schemathesis")
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_dict(openapi)
    operations = [r.ok() for r in schema.get_all_operations()]
    operations = [o for o in operations if o.path.startswith(FUZZED_PREFIXES)]
    operations.sort(key=deletions_last)
    tried: list[str] = []
    started = time.monotonic()
    for operation in operations:
        if time.monotonic() - started > FUZZ_BUDGET:
            failures.append(f"out of time before {operation.label}")
            break
        pinned = pins(operation)
        if pinned is None:
            continue
        names = {p.name for p in operation.path_parameters}
        unknown = names - set(pinned.path)
        assert not unknown, f"{operation.label}: pin {unknown} (a new path parameter?)"
        path = {k: v for k, v in pinned.path.items() if k in names}
        tried.append(operation.label)
        if first is not None:
            first(operation, Pins(path, pinned.query, pinned.headers))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz_operation(operation, mode, path, call, pinned.query, pinned.headers, examples)
    print(f"fuzzed {len(tried)} operations in {time.monotonic() - started:.1f} s")
    return tried


def widget_visitor(api: ApiClient, website_token: str) -> str:
    """A new visitor of the widget: its token (X-Auth-Token)."""
    response = api.post("/api/v1/widget/config", params={"website_token": website_token})
    assert response.status_code == 200, response.text
    token: str = response.json()["auth_token"]
    return token


def agent_question(api: ApiClient, conversation_id: int) -> int:
    """An agent's input_select in the conversation: a message a contact may answer (once)."""
    response = api.post(
        f"conversations/{conversation_id}/messages",
        json={
            "content": "Which one?",
            "content_type": "input_select",
            "content_attributes": {"items": [{"title": "A", "value": "a"}]},
        },
    )
    assert response.status_code == 200, response.text
    message_id: int = response.json()["id"]
    return message_id


def widget_question(api: ApiClient, website_token: str, visitor: str) -> int:
    """The visitor writes (starting a conversation) and an agent asks them: the question's id."""
    response = api.post(
        "/api/v1/widget/messages",
        params={"website_token": website_token},
        headers={"X-Auth-Token": visitor},
        json={"content": "Hello from the widget"},
    )
    assert response.status_code == 200, response.text
    return agent_question(api, response.json()["conversation_id"])


def public_contact(api: ApiClient) -> dict[str, Any]:
    """A contact of a new API inbox of the account, with a conversation and a message, through
    the public client API: the values of that API's paths."""
    inbox = api.post("inboxes", json={"name": "Public", "channel": {"type": "api"}})
    assert inbox.status_code == 200, inbox.text
    base = f"/public/api/v1/inboxes/{inbox.json()['inbox_identifier']}/contacts"
    contact = api.post(base, json={"name": "Pat Public"})
    assert contact.status_code == 200, contact.text
    base += f"/{contact.json()['source_id']}/conversations"
    conversation = api.post(base, json={})
    assert conversation.status_code == 200, conversation.text
    conversation_id = conversation.json()["id"]
    message = api.post(f"{base}/{conversation_id}/messages", json={"content": "Hi"})
    assert message.status_code == 200, message.text
    return {
        "inbox_identifier": inbox.json()["inbox_identifier"],
        "contact_identifier": contact.json()["source_id"],
        "conversation_id": conversation_id,
        # The message the contact may PATCH (submitted_values): a question.
        "message_id": agent_question(api, conversation_id),
    }


def agent_message(api: ApiClient, conversation_id: int) -> int:
    response = api.post(f"conversations/{conversation_id}/messages", json={"content": "Hi"})
    assert response.status_code == 200, response.text
    message_id: int = response.json()["id"]
    return message_id


def valid_body(path: str, own: TenantB) -> dict[str, Any]:
    """A body every operation of `path`'s API accepts, with references valid in the account."""
    if path.startswith("/public/"):
        return public_walk_body()
    if path == "/api/v1/profile":  # a password change to the same password
        password = own.client.credentials.password
        same = {"password": password, "password_confirmation": password}
        return {"current_password": password, **same}
    if path.startswith("/api/v1/widget/"):
        return {
            "content": "x",
            "name": "webwidget.triggered",
            "identifier": unique_email("visitor"),
            "email": unique_email("visitor"),
            "submitted_values": [{"name": "x", "value": "y"}],
        }
    return account_walk_body(own.client.user_id, own.inbox_id, own.contact_id, path)


def widget_inbox(api: ApiClient, name: str) -> dict[str, Any]:
    response = api.post(
        "inboxes",
        json={"name": name, "channel": {"type": "web_widget", "website_url": "https://x.example"}},
    )
    assert response.status_code == 200, response.text
    inbox: dict[str, Any] = response.json()
    return inbox


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
    }
    # Its own API inbox: the fuzz of PATCH inboxes/{inbox_id} may make identity verification
    # mandatory on the other.
    public = public_contact(api)

    def pins(operation: Any) -> Pins:
        if operation.path.startswith("/public/"):
            return Pins(public)
        if "{message_id}" in operation.path and "/accounts/" in operation.path:
            # A message of its own per operation: an earlier one may have deleted the last.
            return Pins({**values, "message_id": agent_message(api, own.conversation_id)})
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
    assert refused == ["GET /api/v1/widget/live -> 401"], refused
    assert_still_serving(api)


# -- another account's token ---------------------------------------------------------------------


def row_counts(database_url: str, account_id: int) -> dict[str, int]:
    """How many rows of each table belong to the account, read in-process (as tests create
    accounts): by its `account_id`, or through the foreign key that leads to a row that does
    (users: through their memberships). Other tests' rows (a worker retrying) do not count."""
    from sqlalchemy import ColumnElement, Table, func, select

    from voxsig.db import Database
    from voxsig.models.base import Base

    tables = Base.metadata.tables

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
    values = {
        "account_id": b.client.account_id if in_b else api.account_id,
        "inbox_id": b.inbox_id,
        "contact_id": b.contact_id,
        "conversation_id": b.conversation_id,
        "message_id": b.message_id,
        "agent_id": b.agent_id,
        "webhook_id": b.webhook_id,
        "delivery_id": b.delivery_id,
    }

    def pins(operation: Any) -> Pins | None:
        # The public client API has no tokens: B's identifiers are B's contacts' to use.
        return Pins(values) if operation.path.startswith("/api/v1/") else None

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
