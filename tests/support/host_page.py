"""A website of another origin for browser tests: one HTML page served from 127.0.0.1 on a port
of its own (the Voxsig server is another port, so another origin), and the account those tests
need, made off Playwright's thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.client import ApiClient, create_account, unique_email

if TYPE_CHECKING:
    from tests.conftest import Backend


class HostPage:
    """Serves `html` at `path` (anything else is a 404) until closed."""

    def __init__(self, html: str, path: str = "/index.html") -> None:
        body = html.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = self.path.split("?")[0] == path
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body) if found else 0))
                self.end_headers()
                if found:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def account_off_loop(backend: Backend) -> ApiClient:
    """A fresh account's administrator, made on a worker thread: create_account calls
    asyncio.run(), which fails in the thread where Playwright's sync API keeps its loop."""
    backend.ensure_running()
    with ThreadPoolExecutor(1) as pool:
        credentials = pool.submit(
            create_account, backend.database_url, "Acme", unique_email(), user_name="Ada Admin"
        ).result()
    return ApiClient(backend.url, credentials)


@pytest.fixture(name="api")
def api_off_loop(backend: Backend) -> Iterator[ApiClient]:
    """conftest's `api` for a browser test module that imports this: the account made on a
    worker thread (account_off_loop)."""
    client = account_off_loop(backend)
    yield client
    client.close()
