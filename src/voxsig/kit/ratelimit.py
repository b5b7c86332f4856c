"""In-memory token buckets, and the 429 they lead to, for endpoints anyone on the internet can
call (the widget API, the dashboard login).

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
