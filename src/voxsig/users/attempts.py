"""Limits on password guesses. Only failures count (kit/ratelimit.FailureLimit).

The login: per address and per (email, address) pair, so a stranger's wrong guesses lock out
their own address, never the user, who logs in from any address that has not failed.

A password change (dashboard and API) asks for the current password; only someone holding the
user's session or token can try, so wrong ones count per user (PER_PAIR of them), not against
the address's login budget."""

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


def change_limit(state: Any) -> FailureLimit:
    """Wrong current passwords of password changes, per user (`change_key`)."""
    limit: FailureLimit | None = getattr(state, "password_change_limit", None)
    if limit is None:
        per_user = state.settings.login_failures_per_pair
        limit = state.password_change_limit = FailureLimit(
            TokenBuckets(per_user, per_user / REFILL_SECONDS)
        )
    return limit


def change_key(user_id: int) -> str:
    return f"user {user_id}"
