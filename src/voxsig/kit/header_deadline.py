"""A deadline on request headers, which uvicorn does not have: its keep-alive timeout only runs
between requests, so a client that sends half a request line and then nothing (or one header
byte a second) holds its connection open forever. Many such clients exhaust the server's file
descriptors without ever reaching the application.

`protocol_class` wraps uvicorn's HTTP protocol (httptools when installed, else h11): from the
moment a connection opens, and from the first byte of every later request on it, the request's
headers must be complete within `timeout` seconds and `max_bytes` bytes; otherwise the server
answers 408 (or 431) and closes the connection. The body has its own deadline, in the ASGI
request guard (kit/request_guard.py).

It reads one attribute of uvicorn's protocol, `cycle`: uvicorn makes a new request cycle when a
request's headers are complete (both implementations; tests/test_slow_clients.py checks it).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.auto import AutoHTTPProtocol

TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-length: 0\r\nconnection: close\r\n\r\n"
)


class HeaderDeadline(asyncio.Protocol):
    """Delegates everything to uvicorn's protocol; only watches the time headers take."""

    timeout: float = 10.0
    max_bytes: int = 64 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        inner: Any = AutoHTTPProtocol(*args, **kwargs)
        self.inner = inner
        self.loop: asyncio.AbstractEventLoop = inner.loop
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.received = 0  # bytes of the request whose headers are awaited

    # -- the deadline ----------------------------------------------------------------------

    def _arm(self) -> None:
        self.received = 0
        self.timer = self.loop.call_later(self.timeout, self._refuse, TIMED_OUT)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _between_requests(self) -> bool:
        cycle = self.inner.cycle
        return cycle is None or bool(cycle.response_complete)

    def _refuse(self, answer: bytes) -> None:
        self._disarm()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(answer)
            transport.close()

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        self.inner.connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.timer is None and self._between_requests():
            self._arm()  # the first bytes of the next request on a kept-alive connection
        before = self.inner.cycle
        self.inner.data_received(data)
        if self.timer is None:
            return
        if self.inner.cycle is not before:
            self._disarm()  # the headers are complete: the body's deadline is the guard's
            return
        self.received += len(data)
        if self.received > self.max_bytes:
            self._refuse(TOO_LARGE)

    def eof_received(self) -> bool | None:
        result: bool | None = self.inner.eof_received()
        return result

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


def protocol_class(timeout: float, max_bytes: int) -> type[asyncio.Protocol]:
    """uvicorn's `http=` protocol with a header deadline of `timeout` s and `max_bytes`."""
    return type("VoxsigHTTP", (HeaderDeadline,), {"timeout": timeout, "max_bytes": max_bytes})
