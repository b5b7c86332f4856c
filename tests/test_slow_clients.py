"""Slow clients (issue 11, finding 5): no request holds a database connection while it waits on
the network, and headers and bodies that do not arrive in time end the connection.

The trickling clients are raw sockets: an HTTP client library would send the body at once."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from harness.server import HOST, VoxsigServer
from tests.conftest import Backend
from tests.support.client import ApiClient

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def dashboard_login(api: ApiClient) -> tuple[str, str]:
    """A logged-in dashboard session: its cookie header and its CSRF token."""
    with httpx.Client(base_url=api.url, timeout=30.0) as http:
        found = CSRF.search(http.get("/").text)
        assert found
        creds = api.credentials
        login = {"csrf_token": found.group(1), "email": creds.email, "password": creds.password}
        assert http.post("/login", data=login).status_code == 303
        found = CSRF.search(http.get("/app/profile").text)
        assert found
        cookie = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
        return cookie, found.group(1)


class Trickler(threading.Thread):
    """Sends a request's headers at once and its body one byte every `pause` seconds."""

    def __init__(self, port: int, head: bytes, body: bytes, pause: float) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection((HOST, port), timeout=60)
        self.head, self.body, self.pause = head, body, pause
        self.started = threading.Event()
        self.sent_all = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            self.sock.sendall(self.head)
            self.started.set()
            for byte in self.body:
                if self.stop.wait(self.pause):
                    return
                self.sock.sendall(bytes([byte]))
            self.sent_all.set()
        except OSError:
            pass
        finally:
            self.started.set()

    def close(self) -> None:
        self.stop.set()
        self.join(10)
        self.sock.close()


def test_a_trickled_dashboard_form_does_not_hold_other_accounts(
    backend: Backend, make_account: Callable[..., ApiClient]
) -> None:
    agent, other = make_account(), make_account()
    cookie, csrf = dashboard_login(agent)
    body = f"csrf_token={csrf}&content=hello".encode()
    head = (
        f"POST /app/conversations/1/messages HTTP/1.1\r\nHost: {HOST}\r\n"
        f"Cookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    trickler = Trickler(backend.server.port, head, body, pause=2.0)
    trickler.start()
    try:
        assert trickler.started.wait(10)
        time.sleep(2.5)  # the server has the headers and a byte of the body by now
        profile = other.get("/api/v1/profile", timeout=60)
        # It answered while the trickled body was still arriving: nothing waited for it.
        assert not trickler.sent_all.is_set()
        assert profile.status_code == 200
    finally:
        trickler.close()


@pytest.fixture
def impatient(backend: Backend, tmp_path: Path) -> Iterator[VoxsigServer]:
    """A second server on the same database with short header and body deadlines."""
    server = VoxsigServer(
        backend.database_url,
        tmp_path,
        extra_env={
            "VOXSIG_RUN_WORKER": "false",
            "VOXSIG_HEADER_TIMEOUT": "2",
            "VOXSIG_BODY_TIMEOUT": "2",
        },
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection; fails after `limit` s."""
    sock.settimeout(limit)
    started, received = time.monotonic(), b""
    while True:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            pytest.fail(f"the server kept the connection open for {limit} s; got {received!r}")
        if not chunk:
            return received, time.monotonic() - started
        received += chunk


def test_half_sent_headers_are_cut_off(impatient: VoxsigServer) -> None:
    with socket.create_connection((HOST, impatient.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        received, waited = read_until_closed(sock, 15)
    assert received.startswith(b"HTTP/1.1 408")
    assert 1.5 < waited < 10


def test_the_header_deadline_holds_for_every_request_on_a_connection(
    impatient: VoxsigServer,
) -> None:
    with socket.create_connection((HOST, impatient.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = sock.recv(4096)
        assert first.startswith(b"HTTP/1.1 200"), first
        # A byte of the next request a second later, then one every second: never complete.
        for byte in b"GET /heal":
            time.sleep(1.0 if byte == ord("G") else 0.4)
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
        received, _ = read_until_closed(sock, 15)
    assert b"408" in received


def test_a_body_that_does_not_arrive_in_time_is_a_408(impatient: VoxsigServer) -> None:
    with socket.create_connection((HOST, impatient.port), timeout=10) as sock:
        sock.sendall(
            b"PUT /api/v1/profile HTTP/1.1\r\nHost: 127.0.0.1\r\napi_access_token: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        received, waited = read_until_closed(sock, 15)
    assert received.startswith(b"HTTP/1.1 408"), received
    assert b'"request_timeout"' in received
    assert waited < 10


def test_a_slow_but_steady_body_within_the_deadline_is_served(
    impatient: VoxsigServer, make_account: Callable[..., ApiClient]
) -> None:
    api = make_account()
    body = b'{"name": "x"}'
    head = (
        f"POST /api/v1/accounts/{api.account_id}/contacts HTTP/1.1\r\nHost: {HOST}\r\n"
        f"api_access_token: {api.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    trickler = Trickler(impatient.port, head, body, pause=0.05)
    trickler.run()  # in this thread: about 0.7 s, inside the 2 s deadline
    received, _ = read_until_closed(trickler.sock, 15)
    trickler.sock.close()
    assert received.startswith(b"HTTP/1.1 200"), received
