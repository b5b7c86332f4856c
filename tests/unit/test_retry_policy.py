"""The retry schedule (outbox/policy.py): jitter within ±20%, a receiver's Retry-After on 429
and 503 honoured within the schedule's bounds, and no try after the schedule's end."""

from __future__ import annotations

import random
from datetime import timedelta
from email.utils import format_datetime

import pytest

from voxsig.config import Settings
from voxsig.kit.clock import utcnow
from voxsig.outbox.policy import JITTER, Policy

SCHEDULE = (5.0, 300.0, 1800.0)
POLICY = Policy(SCHEDULE, connect_timeout=1, total_timeout=2, lease_seconds=60, disable_after=86400)


def test_the_schedule_and_timeouts_come_from_the_settings() -> None:
    settings = Settings(webhook_retry_schedule="5, 60,,3600", webhook_disable_after=7200)
    policy = Policy.from_settings(settings)
    assert policy.schedule == (5.0, 60.0, 3600.0)
    assert policy.disable_after == 7200
    assert policy.disable_after_text == "2 hours"
    assert Policy.from_settings(Settings()).disable_after_text == "5 days"


def test_each_retry_waits_its_scheduled_delay_within_twenty_percent() -> None:
    random.seed(12)
    for attempts_made, base in enumerate(SCHEDULE, start=1):
        delays = [POLICY.retry_delay(attempts_made) for _ in range(2000)]
        assert all(d is not None and base * 0.8 <= d <= base * 1.2 for d in delays)
        spread = [d for d in delays if d is not None]
        # Spread over the whole band, not stuck at the scheduled value.
        assert min(spread) < base * 0.82
        assert max(spread) > base * 1.18


def test_the_jitter_band_is_exactly_plus_or_minus_twenty_percent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert JITTER == 0.2
    monkeypatch.setattr(random, "uniform", lambda low, high: low)
    assert POLICY.retry_delay(2) == pytest.approx(240.0)
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    assert POLICY.retry_delay(2) == pytest.approx(360.0)


def test_after_the_last_scheduled_retry_there_is_none() -> None:
    assert POLICY.retry_delay(len(SCHEDULE)) is not None
    assert POLICY.retry_delay(len(SCHEDULE) + 1) is None
    # Not even when the receiver asks for one.
    assert POLICY.retry_delay(len(SCHEDULE) + 1, asked=10.0) is None


@pytest.mark.parametrize(
    ("asked", "delay"),
    [(120.0, 120.0), (0.0, 5.0), (1.0, 5.0), (5.0, 5.0), (1800.0, 1800.0), (86400.0, 1800.0)],
)
def test_a_retry_after_is_honoured_within_the_schedules_bounds(asked: float, delay: float) -> None:
    """Whatever the attempt: below the shortest delay it is raised, above the longest cut, and
    it is taken as asked (no jitter) in between."""
    for attempts_made in range(1, len(SCHEDULE) + 1):
        assert POLICY.retry_delay(attempts_made, asked) == delay


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_or_as_an_http_date_on_429_and_503(status: int) -> None:
    assert POLICY.retry_after(status, {"Retry-After": "120"}) == 120.0
    assert POLICY.retry_after(status, {"retry-after": " 7 "}) == 7.0
    later = format_datetime(utcnow() + timedelta(seconds=600), usegmt=True)
    asked = POLICY.retry_after(status, {"RETRY-AFTER": later})
    assert asked is not None
    assert 590 <= asked <= 600
    earlier = format_datetime(utcnow() - timedelta(hours=1), usegmt=True)
    assert POLICY.retry_after(status, {"Retry-After": earlier}) == 0.0


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (500, {"Retry-After": "120"}),  # only 429 and 503 carry a meaningful one
        (200, {"Retry-After": "120"}),
        (None, {"Retry-After": "120"}),  # no response at all (a timeout, a refused connection)
        (429, {}),
        (429, {"Retry-After": ""}),
        (503, {"Retry-After": "soon"}),
        (503, {"Retry-After": "-5"}),
    ],
)
def test_no_retry_after_is_read_otherwise(status: int | None, headers: dict[str, str]) -> None:
    assert POLICY.retry_after(status, headers) is None


def test_an_unusable_retry_after_leaves_the_jittered_schedule() -> None:
    random.seed(3)
    delay = POLICY.retry_delay(2, POLICY.retry_after(503, {"Retry-After": "soon"}))
    assert delay is not None
    assert 240 <= delay <= 360
    assert delay != 300


def test_agent_bots_retry_on_their_own_short_schedule_and_timeout() -> None:
    settings = Settings(bot_retry_schedule="2, 4", bot_timeout=3, webhook_timeout=15)
    policy = Policy.from_settings(settings)
    assert policy.schedule_of("agent_bot") == (2.0, 4.0)
    assert policy.schedule_of("account") == policy.schedule_of("inbox") == policy.schedule
    assert policy.timeout_of("agent_bot") == 3
    assert policy.timeout_of("inbox") == 15
    random.seed(3)
    for attempts_made, base in ((1, 2.0), (2, 4.0)):
        delay = policy.retry_delay(attempts_made, kind="agent_bot")
        assert delay is not None
        assert base * 0.8 <= delay <= base * 1.2
    assert policy.retry_delay(3, kind="agent_bot") is None  # a bot gives up after its two
    assert policy.retry_delay(3, kind="account") is not None
    # A receiver's Retry-After is bounded by the bot's schedule, not the webhooks' hours.
    assert policy.retry_delay(1, asked=3600, kind="agent_bot") == 4.0
    # The default: four tries within about a minute (retries at most 1.2 x 33 s apart).
    default = Policy.from_settings(Settings())
    assert sum(default.schedule_of("agent_bot")) * 1.2 <= 60
    assert default.timeout_of("agent_bot") == 5.0
