"""ASGI middleware that runs before any route: it refuses request bodies over a size limit (413,
streamed or not), bodies that do not arrive within a deadline (408), headers over a size limit
(431) and URLs carrying a NUL character (400: no database can store it).

The one exception is a body the app streams itself (`streams(scope)` gives its limit: a
message's files, which the route reads into the store after letting go of its database
connection): it passes through, refused here only when it declares a length over its limit.

It reads the whole body before the route runs (bounded by the size limit), so no route, and no
database connection a route's dependencies opened, ever waits on a slow client: on SQLite one
connection serves every account, and a form trickled in a byte at a time would hold it. (The
headers' deadline is the protocol's: kit/header_deadline.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Every header together, names and values: far above what browsers and SDKs send.
MAX_HEADER_BYTES = 32 * 1024
# Seconds for a whole body (VOXSIG_BODY_TIMEOUT): 1 MiB at 35 KB/s.
BODY_TIMEOUT = 30.0


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        max_header_bytes: int = MAX_HEADER_BYTES,
        body_timeout: float = BODY_TIMEOUT,
        streams: Callable[[Scope], int | None] = lambda _scope: None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_header_bytes = max_header_bytes
        self.body_timeout = body_timeout
        self.streams = streams

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("raw_path", b"") or b"%00" in scope.get("query_string", b""):
            await self._refuse(
                send, 400, "bad_request", "url", "The URL must not contain the NUL character (%00)"
            )
            return
        if sum(len(name) + len(value) for name, value in scope["headers"]) > self.max_header_bytes:
            await self._refuse(
                send,
                431,
                "headers_too_large",
                "headers",
                f"The request headers are larger than {self.max_header_bytes} bytes",
            )
            return
        declared = dict(scope["headers"]).get(b"content-length")
        streamed_limit = self.streams(scope)
        if streamed_limit is not None:
            if declared is not None and declared.isdigit() and int(declared) > streamed_limit:
                await self._refuse(
                    send, message=f"The request body is larger than {streamed_limit} bytes"
                )
                return
            with contextlib.suppress(ClientDisconnect):
                await self.app(scope, receive, send)
            return
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        body = await self._read_body(receive, send)
        if body is None:
            return  # refused (413, 408) or the client left
        waiting: Message | None = {"type": "http.request", "body": body, "more_body": False}

        # The app gets the whole body at once, then the connection's own messages (e.g. the
        # disconnect a live stream waits for).
        async def replay() -> Message:
            nonlocal waiting
            if waiting is not None:
                message, waiting = waiting, None
                return message
            return await receive()

        with contextlib.suppress(ClientDisconnect):
            await self.app(scope, replay, send)

    async def _read_body(self, receive: Receive, send: Send) -> bytes | None:
        """The whole request body, read before any route runs: no route (and no database
        connection a route's dependencies opened) ever waits on a slow client. None when it
        was refused: larger than max_bytes (413), or not complete within body_timeout (408)."""
        chunks: list[bytes] = []
        seen = 0
        try:
            async with asyncio.timeout(self.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        return None  # the client left
                    chunk = message.get("body", b"")
                    seen += len(chunk)
                    if seen > self.max_bytes:
                        await self._refuse(send, close=True)
                        return None
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            await self._refuse(
                send,
                408,
                "request_timeout",
                "body",
                f"The request body did not arrive within {self.body_timeout:g} seconds",
                close=True,
            )
            return None

    async def _refuse(
        self,
        send: Send,
        status: int = 413,
        code: str = "payload_too_large",
        field: str = "body",
        message: str = "",
        *,
        close: bool = False,
    ) -> None:
        """The error answer; `close`: the rest of the body is not read, so the connection
        cannot carry another request."""
        message = message or f"The request body is larger than {self.max_bytes} bytes"
        body = json.dumps(
            {"error": code, "message": message, "errors": [{"field": field, "message": message}]}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *([(b"connection", b"close")] if close else []),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
