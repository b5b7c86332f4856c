"""What counts as delivered, and when a failed delivery is tried again. Every number is a
setting (VOXSIG_WEBHOOK_*)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from voxsig.config import Settings
from voxsig.kit.clock import utcnow
from voxsig.models.webhook import BOT_ENDPOINT

JITTER = 0.2


def _seconds(text: str) -> tuple[float, ...]:
    return tuple(float(s) for s in text.split(",") if s.strip())


@dataclass(frozen=True)
class Policy:
    schedule: tuple[float, ...]
    connect_timeout: float
    total_timeout: float
    lease_seconds: float
    disable_after: float
    # A lease whose worker has not beaten its heartbeat for this long is taken over.
    takeover_seconds: float = 10.0
    # Agent bots' own retries and timeout (a visitor is waiting for the answer).
    bot_schedule: tuple[float, ...] = (3.0, 10.0, 20.0)
    bot_timeout: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            _seconds(settings.webhook_retry_schedule),
            settings.webhook_connect_timeout,
            settings.webhook_timeout,
            settings.webhook_lease_seconds,
            settings.webhook_disable_after,
            settings.worker_takeover_seconds,
            _seconds(settings.bot_retry_schedule),
            settings.bot_timeout,
        )

    def schedule_of(self, kind: str) -> tuple[float, ...]:
        return self.bot_schedule if kind == BOT_ENDPOINT else self.schedule

    def timeout_of(self, kind: str) -> float:
        """An attempt's whole time (connect included) for an endpoint of `kind`."""
        if kind == BOT_ENDPOINT:
            return min(self.bot_timeout, self.total_timeout)
        return self.total_timeout

    @property
    def disable_after_text(self) -> str:
        days, hours = self.disable_after / 86400, self.disable_after / 3600
        if days >= 1:
            return f"{days:g} days"
        return f"{hours:g} hours" if hours >= 1 else f"{self.disable_after:g} seconds"

    def retry_after(self, status: int | None, headers: dict[str, str]) -> float | None:
        """The receiver's own `Retry-After` on 429 and 503 (seconds or an HTTP date)."""
        if status not in (429, 503):
            return None
        value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        if not value:
            return None
        if value.strip().isdigit():
            return float(value.strip())
        try:
            return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
        except (TypeError, ValueError):
            return None

    def retry_delay(
        self, attempts_made: int, asked: float | None = None, kind: str = ""
    ) -> float | None:
        """Seconds until the next try after `attempts_made` failures, None when none is left
        (on the schedule of the endpoint's `kind`). A receiver's Retry-After (`asked`) is
        honoured within the schedule's bounds."""
        schedule = self.schedule_of(kind)
        if attempts_made > len(schedule):
            return None
        if asked is not None:
            return min(max(asked, min(schedule)), max(schedule))
        base = schedule[attempts_made - 1]
        return base * random.uniform(1 - JITTER, 1 + JITTER)
