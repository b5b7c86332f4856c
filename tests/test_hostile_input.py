"""Hostile input over the wire: oversized, deeply nested and malformed JSON, wrong content types,
huge headers and invalid UTF-8 each get a clear 4xx (never a 5xx), and the server answers the
next ordinary request. Requests the fuzz (test_api_fuzz.py) once found answered with 500 are
kept here as plain regression tests.
"""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.conftest import Backend
from tests.support.client import ApiClient, assert_still_serving
from tests.support.factories import new_conversation, widget_inbox
from tests.support.widget import widget_visitor

HOST = "127.0.0.1"
MiB = 1024 * 1024


def assert_client_error(response: httpx.Response, what: str) -> None:
    request = response.request
    assert 400 <= response.status_code < 500, (
        f"{what}: {request.method} {request.url} -> {response.status_code}: {response.text[:500]}"
    )


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
        # Some of these are legitimately accepted (e.g. JSON without a content type, or a
        # form as Chatwoot's integrations send it): fine, as long as what was stored is what
        # was sent.
        accepted = {"no content-type", "text/plain", "nul in string", "lone surrogate", "multipart"}
        assert case in accepted, f"{case}: accepted {response.text[:300]}"
        if case == "multipart":
            assert response.json()["content"] == "hi"
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
