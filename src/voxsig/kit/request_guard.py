"""ASGI middleware that refuses, before any route runs, request bodies over a size limit (413,
streamed or not), headers over a size limit (431) and URLs carrying a NUL character (400: no
database can store it)."""

from __future__ import annotations

import contextlib
import json

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Every header together, names and values: far above what browsers and SDKs send.
MAX_HEADER_BYTES = 32 * 1024


class RequestGuard:
    def __init__(
        self, app: ASGIApp, max_bytes: int, max_header_bytes: int = MAX_HEADER_BYTES
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_header_bytes = max_header_bytes

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
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0
        refused = False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Answer 413 now and tell the app the client left, so it stops reading.
                    refused = True
                    await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:  # after a 413 the app's own answer has nowhere to go
                await send(message)

        with contextlib.suppress(ClientDisconnect):
            await self.app(scope, limited_receive, guarded_send)

    async def _refuse(
        self,
        send: Send,
        status: int = 413,
        code: str = "payload_too_large",
        field: str = "body",
        message: str = "",
    ) -> None:
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
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
