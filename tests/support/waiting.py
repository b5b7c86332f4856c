"""Polling for a condition that a real process makes true in its own time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    check: Callable[[], bool], timeout: float, describe: Callable[[], str], step: float = 0.05
) -> None:
    """Calls `check` every `step` seconds until it is true; fails with `describe()` after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {describe()}")
        time.sleep(step)
