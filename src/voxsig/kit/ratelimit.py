"""In-memory token buckets, and the 429 they lead to, for endpoints anyone on the internet can
call (the widget API, the dashboard login, which counts only failures: FailureLimit).

Per process: each Voxsig process counts its own requests, so N processes let through up to N
times the limit. That is enough to stop a script hammering one server; a shared store would be
needed for an exact global limit. Buckets live in one event loop (no locks) and the least
recently used are forgotten beyond `max_keys`, so memory stays bounded whoever calls.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from voxsig.errors import ApiError, error_body


class TokenBuckets:
    """`capacity` requests at once per key, refilled at `per_second`."""

    def __init__(
        self,
        capacity: float,
        per_second: float,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.per_second = per_second
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, cost: float = 1.0) -> float:
        """Takes `cost` tokens from `key`'s bucket and returns 0.0, or, when it holds too few,
        takes nothing and returns the seconds until it will hold enough."""
        now = self._clock()
        tokens, stamp = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - stamp) * self.per_second)
        wait = 0.0
        if tokens >= cost:
            tokens -= cost
        else:
            wait = (cost - tokens) / self.per_second
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)  # forgetting a bucket refills it: lenient, bounded
        return wait

    def wait(self, key: str, cost: float = 1.0) -> float:
        """The seconds until `key`'s bucket holds `cost` tokens (0.0 if it does), taking none."""
        tokens, stamp = self._buckets.get(key, (self.capacity, self._clock()))
        tokens = min(self.capacity, tokens + (self._clock() - stamp) * self.per_second)
        return max(0.0, (cost - tokens) / self.per_second)

    def give_back(self, key: str, cost: float = 1.0) -> None:
        """Returns `cost` tokens taken from `key`'s bucket (never above its capacity)."""
        found = self._buckets.get(key)
        if found is not None:
            self._buckets[key] = (min(self.capacity, found[0] + cost), found[1])


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: float, message: str = "Too many requests") -> None:
        super().__init__(f"{message}; try again in {math.ceil(retry_after)} s")
        self.retry_after = retry_after


def check(buckets: TokenBuckets, key: str, what: str) -> None:
    """Raises RateLimited (429) when `key` has used up its bucket."""
    wait = buckets.take(key)
    if wait > 0:
        raise RateLimited(wait, f"Too many requests from this {what}")


class LimitedRoute(APIRoute):
    """A route class (`APIRouter(route_class=LimitedRoute)`) that answers RateLimited with 429,
    the usual error body and `Retry-After`, which the app-wide ApiError handler cannot add."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            try:
                return await handler(request)
            except RateLimited as exc:
                return JSONResponse(
                    error_body(exc.code, exc.message),
                    status_code=exc.status,
                    headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))},
                )

        return limited


class FailureLimit:
    """Limits failed attempts only (a login): an attempt reserves one token from every bucket
    it falls under before it is checked, so concurrent attempts cannot overrun a limit, and a
    success gives them back, so successes never count. `keys` line up with `buckets`."""

    def __init__(self, *buckets: TokenBuckets) -> None:
        self.buckets = buckets

    def begin(self, *keys: str) -> float:
        """Reserves a token under every key and returns 0.0; or, when any bucket is empty,
        reserves nothing and returns the seconds until all could take one."""
        taken: list[tuple[TokenBuckets, str]] = []
        for buckets, key in zip(self.buckets, keys, strict=True):
            wait = buckets.take(key)
            if wait > 0:
                for done, done_key in taken:
                    done.give_back(done_key)
                return max([wait, *(b.wait(k) for b, k in zip(self.buckets, keys, strict=True))])
            taken.append((buckets, key))
        return 0.0

    def succeeded(self, *keys: str) -> None:
        """The attempt begun under `keys` succeeded: it does not count."""
        for buckets, key in zip(self.buckets, keys, strict=True):
            buckets.give_back(key)
