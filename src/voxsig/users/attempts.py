"""The one limit on password guesses: the dashboard login, and the current password a password
change asks for (dashboard and API). Only failures count (kit/ratelimit.FailureLimit), per
address and per (email, address) pair: a stranger's wrong guesses lock out their own address,
never the user, who logs in from any address that has not failed."""

from __future__ import annotations

from typing import Any

from voxsig.kit.ratelimit import FailureLimit, TokenBuckets

# Failures allowed at once, refilled over 15 minutes. Per pair: slows down guessing one
# person's password. Per address: slows down trying passwords on many emails, with room for
# an office behind one address.
PER_PAIR = 10
PER_ADDRESS = 50
REFILL_SECONDS = 15 * 60


def new_limit(per_address: int = PER_ADDRESS, per_pair: int = PER_PAIR) -> FailureLimit:
    return FailureLimit(
        TokenBuckets(per_address, per_address / REFILL_SECONDS),
        TokenBuckets(per_pair, per_pair / REFILL_SECONDS),
    )


def password_limit(state: Any) -> FailureLimit:
    """The app's limit (in memory, per process), made on first use; `state` is app.state,
    whose settings may change the two numbers (VOXSIG_LOGIN_FAILURES_PER_ADDRESS, _PER_PAIR)."""
    limit: FailureLimit | None = getattr(state, "password_limit", None)
    if limit is None:
        settings = state.settings
        limit = state.password_limit = new_limit(
            settings.login_failures_per_address, settings.login_failures_per_pair
        )
    return limit


def keys(address: str, email: str) -> tuple[str, str]:
    """The limit's keys for an attempt at `email` from `address`, in new_limit()'s order."""
    return address, f"{email.strip().lower()} {address}"
