"""The login limit counts failures only, per address and per (email, address), so a stranger's
wrong guesses never lock an agent out (issue 11, finding 9); and the address it sees comes
from X-Forwarded-For only when the peer is a trusted proxy (finding 15).

Tests that spend an address's failures run on servers of their own (same database), so the
shared server's 127.0.0.1 keeps its budget for the other tests."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from harness.server import VoxsigServer
from tests.conftest import Backend
from tests.support.client import ApiClient, unique_email

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PER_PAIR = 10  # users/attempts.py
# The servers of this module allow fewer failures per address than the default 50: at a
# second a login on a busy machine, 50 take long enough for the bucket to refill a token.
PER_ADDRESS = 12
LIMITS = {"VOXSIG_LOGIN_FAILURES_PER_ADDRESS": str(PER_ADDRESS)}


def login(base_url: str, email: str, password: str, address: str | None = None) -> httpx.Response:
    """A login from a fresh browser; `address` is sent as X-Forwarded-For."""
    headers = {"x-forwarded-for": address} if address else {}
    with httpx.Client(base_url=base_url, timeout=30.0, headers=headers) as http:
        found = CSRF.search(http.get("/").text)
        assert found
        form = {"csrf_token": found.group(1), "email": email, "password": password}
        return http.post("/login", data=form)


def an_address() -> str:
    return f"198.51.100.{uuid.uuid4().int % 250 + 1}"


def _server(backend: Backend, work_dir: Path, **env: str) -> Iterator[VoxsigServer]:
    server = VoxsigServer(
        backend.database_url, work_dir, extra_env={"VOXSIG_RUN_WORKER": "false", **env}
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def proxied(backend: Backend, tmp_path: Path) -> Iterator[VoxsigServer]:
    """A server behind a (pretend) reverse proxy on 127.0.0.1."""
    yield from _server(backend, tmp_path, VOXSIG_TRUSTED_PROXIES="127.0.0.1/32, ::1", **LIMITS)


@pytest.fixture
def plain(backend: Backend, tmp_path: Path) -> Iterator[VoxsigServer]:
    """A server with the default settings: no proxy is trusted."""
    yield from _server(backend, tmp_path, **LIMITS)


def test_successful_logins_do_not_count(api: ApiClient) -> None:
    for _ in range(PER_PAIR + 2):
        answer = login(api.url, api.credentials.email, api.credentials.password)
        assert answer.status_code == 303, answer.text


def test_a_strangers_wrong_passwords_do_not_lock_the_agent_out(
    proxied: VoxsigServer, make_account: Callable[..., ApiClient]
) -> None:
    agent = make_account()
    email, password = agent.credentials.email, agent.credentials.password
    stranger, office = an_address(), "203.0.113.7"
    for _ in range(PER_PAIR):
        assert login(proxied.url, email, "wrong-password", stranger).status_code == 200
    refused = login(proxied.url, email, password, stranger)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    # The agent, from an address that has not failed, logs in at once.
    assert login(proxied.url, email, password, office).status_code == 303
    # Their failures from the office count for the office alone: the stranger stays out.
    assert login(proxied.url, email, password, stranger).status_code == 429


def test_an_address_trying_many_emails_is_refused(
    proxied: VoxsigServer, make_account: Callable[..., ApiClient]
) -> None:
    agent = make_account()
    email, password = agent.credentials.email, agent.credentials.password
    sprayer = an_address()
    for _ in range(PER_ADDRESS):
        answer = login(proxied.url, unique_email("guess"), "password1", sprayer)
        assert answer.status_code == 200
    assert login(proxied.url, unique_email("guess"), "password1", sprayer).status_code == 429
    assert login(proxied.url, email, password, sprayer).status_code == 429
    assert login(proxied.url, email, password, "203.0.113.8").status_code == 303


def test_a_trusted_proxy_tells_the_scheme(proxied: VoxsigServer) -> None:
    behind_tls = httpx.get(f"{proxied.url}/", headers={"x-forwarded-proto": "https"})
    assert "secure" in behind_tls.headers["set-cookie"].lower()


def test_a_spoofed_forwarded_for_is_not_believed_by_default(
    plain: VoxsigServer, make_account: Callable[..., ApiClient]
) -> None:
    agent = make_account()
    # Every failure claims another address; the limit sees the peer, 127.0.0.1, each time.
    for _ in range(PER_ADDRESS):
        answer = login(plain.url, unique_email("guess"), "password1", an_address())
        assert answer.status_code == 200
    email, password = agent.credentials.email, agent.credentials.password
    assert login(plain.url, email, password).status_code == 429
    assert login(plain.url, email, password, "203.0.113.9").status_code == 429
