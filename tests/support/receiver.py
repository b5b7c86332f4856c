"""A real HTTP endpoint for webhooks: records what arrives and answers as a test scripts it, so
retries, timeouts and ordering are tested over the wire rather than against a mock."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOST = "127.0.0.1"
# The receivers listening now, by port: an endpoint created with one's URL declares its format
# to it (client.ApiClient notes every endpoint an answer shows).
LISTENING: dict[int, Receiver] = {}


@dataclass(frozen=True)
class Reply:
    """One scripted answer: its status, how long to wait before sending it, extra headers."""

    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Received:
    """One request as it arrived; `at` is time.monotonic() when its body was fully read."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int

    def json(self) -> Any:
        return json.loads(self.body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the webhook client expects
    server: _Server

    def _handle(self) -> None:
        body = self._read_body()
        parts = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.receiver._next_reply(parts.path)
        self.server.receiver._record(
            Received(
                self.command, parts.path, parts.query, headers, body, time.monotonic(), reply.status
            )
        )
        if reply.delay:
            time.sleep(reply.delay)
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            self.close_connection = True  # the client gave up (its timeout): that is fine

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the recorded requests are the log


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client killed mid-request (the crash drills do that): not news
        super().handle_error(request, client_address)


class Receiver:
    """Listens on 127.0.0.1:<free port> (or `port`, chosen in advance) in a background thread
    until close()."""

    def __init__(self, port: int = 0) -> None:
        self._lock = threading.Condition()
        self._received: list[Received] = []
        self._scripts: dict[str, deque[Reply]] = {}
        # path -> the payload formats of the endpoints pointed there, and the server that
        # serves their schemas; every body arriving on such a path is checked against them.
        self._formats: dict[str, tuple[set[str], str]] = {}
        # What arrived on a path whose format was declared: checked by schema_failures().
        self._to_check: list[Received] = []
        self._server = _Server((HOST, port), _Handler)
        self._server.receiver = self
        self.port: int = self._server.server_address[1]
        LISTENING[self.port] = self
        # A short poll interval: close() waits for it, once per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="webhook-receiver", daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def respond(
        self,
        path: str,
        *replies: int | Reply,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Queue answers for `path`, used one per request in order; then 200 again.

        Plain statuses get `delay` and `headers`; pass Reply objects to vary them per answer.
        """
        with self._lock:
            queue = self._scripts.setdefault(path, deque())
            for reply in replies:
                if isinstance(reply, int):
                    reply = Reply(reply, delay, dict(headers or {}))
                queue.append(reply)

    def expect_format(self, path: str, payload_format: str, server_url: str) -> None:
        """Bodies arriving on `path` are events in `payload_format` (the endpoint's): each is
        validated against the schema the server at `server_url` serves. An endpoint whose
        format changes (or two endpoints on one path) adds a format: a body must then match
        one of them (bodies rendered before a change keep their format)."""
        from tests.support.webhook_schema import served

        served(server_url)  # fetched here, in the test's thread, not in the handler's
        with self._lock:
            formats, _ = self._formats.setdefault(path, (set(), server_url))
            formats.add(payload_format)

    def schema_failures(self) -> list[str]:
        """Every way a body received on a path with a declared format broke its schema."""
        with self._lock:
            arrived = list(self._to_check)
        return [failure for request in arrived for failure in self._check(request)]

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received if path is None or r.path == path]

    def wait_for(
        self, count: int, path: str | None = None, timeout: float = 10.0
    ) -> list[Received]:
        """Block until `count` requests (to `path`, if given) arrived; fail showing what did."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(matching := self._matching(path)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._describe_shortfall(count, path, matching))
                self._lock.wait(remaining)
            return matching

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
            self._scripts.clear()

    def close(self) -> None:
        LISTENING.pop(self.port, None)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _matching(self, path: str | None) -> list[Received]:
        return [r for r in self._received if path is None or r.path == path]

    def _describe_shortfall(self, count: int, path: str | None, matching: list[Received]) -> str:
        where = f" to {path}" if path else ""
        lines = [
            f"expected {count} webhook request(s){where}, got {len(matching)}; "
            f"all {len(self._received)} received:"
        ]
        start = self._received[0].at if self._received else 0.0
        for r in self._received:
            preview = r.body[:300].decode(errors="replace")
            lines.append(f"  +{r.at - start:.3f}s {r.method} {r.path} -> {r.status}: {preview}")
        return "\n".join(lines)

    def _next_reply(self, path: str) -> Reply:
        with self._lock:
            queue = self._scripts.get(path)
            return queue.popleft() if queue else Reply()

    def _record(self, request: Received) -> None:
        with self._lock:
            self._received.append(request)
            if request.path in self._formats:
                self._to_check.append(request)
            self._lock.notify_all()

    def _check(self, request: Received) -> list[str]:
        """A body's problems against every format declared for its path by now: a switch of
        format is declared when its answer reaches the test, which can be after a delivery
        rendered in the new format arrived."""
        from tests.support.webhook_schema import SYNTHETIC, problems

        with self._lock:
            formats, server_url = self._formats[request.path]
            formats = set(formats)
        try:
            body = request.json()
        except ValueError:
            body = request.body[:200]
        if isinstance(body, dict) and SYNTHETIC in body:
            return []
        found = [problems(body, fmt, server_url) for fmt in sorted(formats)]
        return [f"{request.path}: {p}" for f in found for p in f] if all(found) else []
