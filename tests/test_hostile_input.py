"""Hostile input over the wire: oversized, deeply nested and malformed JSON, wrong content types,
huge headers and invalid UTF-8 each get a clear 4xx (never a 5xx), and the server answers the
next ordinary request. Then a schema-driven fuzz of every /api/v1 operation: no 5xx."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests

from tests.conftest import Backend
from tests.support.client import ApiClient
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


# -- schema-driven fuzz ---------------------------------------------------------------------


@pytest.fixture
def openapi(backend: Backend) -> dict[str, Any]:
    backend.ensure_running()
    response = httpx.get(f"{backend.url}/openapi.json", timeout=10)
    assert response.status_code == 200, response.text[:300]
    document: dict[str, Any] = response.json()
    return document


FUZZ_EXAMPLES = 5  # per operation and mode
FUZZ_BUDGET = 80.0  # seconds for every operation together


def fuzz_operation(
    operation: Any,
    mode: Any,
    pinned: dict[str, Any],
    call: Callable[[Any], None],
) -> None:
    """Runs hypothesis over one operation's generated cases (a few, reproducibly)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=pinned))
    def probe(case: Any) -> None:
        call(case)

    try:
        probe()
    except Unsatisfiable:
        # Nothing in this operation can be made invalid (e.g. no parameters and no body).
        if mode != GenerationMode.NEGATIVE:
            raise


def test_every_api_operation_fuzzed_with_a_valid_token_never_answers_5xx(
    api: ApiClient, openapi: dict[str, Any]
) -> None:
    """schemathesis generates requests, valid and invalid, from the server's own /openapi.json
    for every operation under /api/v1 (the account's id pinned, so they reach the routes):
    none may answer 5xx."""
    schemathesis = pytest.importorskip("schemathesis")
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error

    schema = schemathesis.openapi.from_dict(openapi)
    headers = {"api_access_token": api.token}
    session = requests.Session()
    failures: list[str] = []
    tried: list[str] = []
    started = time.monotonic()

    def call(case: Any) -> None:
        response = case.call(base_url=api.url, session=session, headers=headers, timeout=15)
        try:
            case.validate_response(response, checks=[not_a_server_error], headers=headers)
        except Exception as exc:  # collect all, report together
            failures.append(f"{case.operation.label}: {str(exc)[:600]}")

    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/v1"):
            continue
        if time.monotonic() - started > FUZZ_BUDGET:
            failures.append(f"out of time before {operation.label}")
            break
        names = {p.name for p in operation.path_parameters}
        pinned = {"account_id": api.account_id} if "account_id" in names else {}
        tried.append(operation.label)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz_operation(operation, mode, pinned, call)
    session.close()
    print(f"fuzzed {len(tried)} operations in {time.monotonic() - started:.1f} s")
    assert len(tried) > 10, tried
    assert not failures, "\n".join(failures)
    assert_still_serving(api)
