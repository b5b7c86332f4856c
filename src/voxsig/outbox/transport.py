"""The only code that makes outbound HTTP. Timeouts always set, redirects never followed, and
every address vetted by netguard at connect time, on every send (DNS answers change):

- the URL is parsed by `target.parse`, the same yarl parse aiohttp would make, and that parsed
  URL is what aiohttp is given, so the host checked is the host connected to;
- an IP-literal host is vetted here (aiohttp does not resolve it);
- the resolver hands aiohttp only vetted addresses and aiohttp connects to exactly those, so DNS
  rebinding has no second lookup to use;
- the socket factory vets the very address each socket is about to connect to, whatever path
  led there: the last check, and the one no parsing difference can get around.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field

import aiohttp
from aiohappyeyeballs import AddrInfoType
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from voxsig import __version__
from voxsig.outbox.netguard import IPNetwork, address_allowed, is_allowed
from voxsig.outbox.target import BadURL, parse

USER_AGENT = f"Voxsig-Webhooks/{__version__} (+https://voxsig.dev)"
BODY_KEEP = 4096
MESSAGE_MAX = 1000  # within the String(1024) of `delivery_attempts.error_message`


class Blocked(OSError):
    """The target is, or resolves only to, addresses webhooks may not reach."""


class GuardedResolver(AbstractResolver):
    def __init__(self, allowed: tuple[IPNetwork, ...]) -> None:
        self._inner = DefaultResolver()
        self._allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        vetted = [r for r in results if is_allowed(r["host"], self._allowed)]
        if not vetted:
            raise Blocked(
                f"{host} resolves to {', '.join(r['host'] for r in results)}, "
                "which webhooks may not reach"
            )
        return vetted

    async def close(self) -> None:
        await self._inner.close()


class GuardedSockets:
    """aiohttp's `socket_factory`: a socket exists only for an address webhooks may reach."""

    def __init__(self, allowed: tuple[IPNetwork, ...]) -> None:
        self._allowed = allowed

    def __call__(self, addr_info: AddrInfoType) -> socket.socket:
        family, kind, proto, _, address = addr_info
        if not is_allowed(str(address[0]), self._allowed):
            raise Blocked(f"{address[0]} is an address webhooks may not reach")
        return socket.socket(family, kind, proto)


@dataclass
class Outcome:
    """What one POST came to: a response, or an error class (timeout, connection, dns,
    ssrf_blocked, tls, http_status)."""

    started_at: float
    duration_ms: int
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    error_class: str | None = None
    error_message: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Limits:
    connect_timeout: float = 5.0
    total_timeout: float = 15.0
    max_in_flight: int = 256


class Transport:
    def __init__(self, allowed: tuple[IPNetwork, ...] = (), limits: Limits | None = None) -> None:
        self.allowed = allowed
        self.limits = limits or Limits()
        self._timeout = aiohttp.ClientTimeout(
            total=self.limits.total_timeout, sock_connect=self.limits.connect_timeout
        )
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self.allowed),
                limit=self.limits.max_in_flight,
                # Per-endpoint caps are the worker's (several endpoints may share a host).
                limit_per_host=0,
                ttl_dns_cache=30,
                socket_factory=GuardedSockets(self.allowed),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                auto_decompress=True,
                headers={"user-agent": USER_AGENT},
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,  # no HTTP(S)_PROXY: a proxy would connect where we cannot vet
            )
        return self._session

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], seconds: float | None = None
    ) -> Outcome:
        """`seconds`: this attempt's whole time, if shorter than the limits' (an agent bot's)."""
        started = time.time()
        clock = time.perf_counter()

        def done(
            status: int | None = None,
            headers: dict[str, str] | None = None,
            body: str = "",
            error_class: str | None = None,
            error_message: str | None = None,
        ) -> Outcome:
            elapsed_ms = int((time.perf_counter() - clock) * 1000)
            return Outcome(
                started, elapsed_ms, status, headers or {}, body, error_class, error_message
            )

        try:
            target = parse(url)  # a URL stored before it was normalised may not parse
        except BadURL as exc:
            return done(error_class="ssrf_blocked", error_message=f"The URL {exc}"[:MESSAGE_MAX])
        if target.ip is not None and not address_allowed(target.ip, self.allowed):
            return done(
                error_class="ssrf_blocked",
                error_message=f"{target.host} is an address webhooks may not reach",
            )
        try:
            async with self._client().post(
                target.url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=self._timeout_of(seconds),
            ) as response:
                text = (await response.content.read(BODY_KEEP)).decode("utf-8", "replace")
                outcome = done(status=response.status, headers=dict(response.headers), body=text)
                if not outcome.succeeded:
                    outcome.error_class = "http_status"
                    outcome.error_message = f"HTTP {response.status}"
                return outcome
        except Exception as exc:  # every failure is recorded as an attempt, never raised
            kind, message = classify(exc)
            return done(error_class=kind, error_message=message[:MESSAGE_MAX])

    def _timeout_of(self, timeout: float | None) -> aiohttp.ClientTimeout:
        """The session's own timeout unless `timeout` is shorter (never None: to aiohttp a
        None timeout means no timeout at all)."""
        if timeout is None or timeout >= self.limits.total_timeout:
            return self._timeout
        return aiohttp.ClientTimeout(
            total=timeout, sock_connect=min(timeout, self.limits.connect_timeout)
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def classify(exc: BaseException) -> tuple[str, str]:
    cause = getattr(exc, "os_error", None) or exc.__cause__
    if isinstance(exc, Blocked) or isinstance(cause, Blocked):
        return "ssrf_blocked", str(cause if isinstance(cause, Blocked) else exc)
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout", "no complete answer within the timeout"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "dns", str(exc)
    if isinstance(exc, aiohttp.ClientSSLError | aiohttp.ServerFingerprintMismatch):
        return "tls", str(exc)
    if isinstance(exc, aiohttp.ClientError | OSError):
        return "connection", str(exc) or type(exc).__name__
    return "connection", f"{type(exc).__name__}: {exc}"
