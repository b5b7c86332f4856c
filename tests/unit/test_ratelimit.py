"""The login limit's rules (users/attempts.py on kit/ratelimit.py), with a clock of our own."""

from __future__ import annotations

from voxsig.kit.ratelimit import FailureLimit, TokenBuckets
from voxsig.users import attempts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limit_with(clock: Clock) -> FailureLimit:
    return FailureLimit(
        TokenBuckets(attempts.PER_ADDRESS, attempts.PER_ADDRESS / 900, clock=clock),
        TokenBuckets(attempts.PER_PAIR, attempts.PER_PAIR / 900, clock=clock),
    )


def fail(limit: FailureLimit, address: str, email: str) -> float:
    """One wrong password (begun and not given back); returns begin()'s wait."""
    return limit.begin(*attempts.keys(address, email))


def succeed(limit: FailureLimit, address: str, email: str) -> float:
    keys = attempts.keys(address, email)
    wait = limit.begin(*keys)
    if wait == 0:
        limit.succeeded(*keys)
    return wait


def test_successes_never_count() -> None:
    limit = limit_with(Clock())
    for _ in range(1000):
        assert succeed(limit, "10.0.0.1", "ada@example.com") == 0


def test_failures_lock_out_the_pair_and_not_the_user_elsewhere() -> None:
    limit = limit_with(Clock())
    for _ in range(attempts.PER_PAIR):
        assert fail(limit, "10.0.0.66", "ada@example.com") == 0
    assert fail(limit, "10.0.0.66", "ada@example.com") > 0
    assert succeed(limit, "10.0.0.66", "Ada@Example.com ") > 0  # the same email, normalised
    assert succeed(limit, "10.0.0.1", "ada@example.com") == 0
    assert succeed(limit, "10.0.0.66", "bob@example.com") == 0


def test_a_refused_attempt_takes_nothing() -> None:
    clock = Clock()
    limit = limit_with(clock)
    for _ in range(attempts.PER_PAIR):
        fail(limit, "10.0.0.66", "ada@example.com")
    for _ in range(100):  # refused attempts do not spend the address's budget
        assert fail(limit, "10.0.0.66", "ada@example.com") > 0
    for n in range(attempts.PER_ADDRESS - attempts.PER_PAIR):
        assert fail(limit, "10.0.0.66", f"user{n}@example.com") == 0
    assert fail(limit, "10.0.0.66", "new@example.com") > 0


def test_an_address_spraying_emails_is_refused_for_every_email() -> None:
    limit = limit_with(Clock())
    for n in range(attempts.PER_ADDRESS):
        assert fail(limit, "10.0.0.66", f"user{n}@example.com") == 0
    assert succeed(limit, "10.0.0.66", "ada@example.com") > 0
    assert succeed(limit, "10.0.0.1", "ada@example.com") == 0


def test_failures_are_forgiven_over_time() -> None:
    clock = Clock()
    limit = limit_with(clock)
    for _ in range(attempts.PER_PAIR):
        fail(limit, "10.0.0.66", "ada@example.com")
    wait = fail(limit, "10.0.0.66", "ada@example.com")
    assert 0 < wait <= 900 / attempts.PER_PAIR + 1e-6
    clock.now += wait
    assert fail(limit, "10.0.0.66", "ada@example.com") == 0
    assert fail(limit, "10.0.0.66", "ada@example.com") > 0


def test_give_back_never_exceeds_the_capacity() -> None:
    buckets = TokenBuckets(2, 1.0, clock=Clock())
    buckets.take("k")
    for _ in range(5):
        buckets.give_back("k")
    assert buckets.take("k") == 0
    assert buckets.take("k") == 0
    assert buckets.take("k") > 0
