"""What counts as delivered, and when a failed delivery is tried again. Every number is a
setting (VOXSIG_WEBHOOK_*)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from voxsig.config import Settings
from voxsig.kit.clock import utcnow

JITTER = 0.2


@dataclass(frozen=True)
class Policy:
    schedule: tuple[float, ...]
    connect_timeout: float
    total_timeout: float
    lease_seconds: float
    disable_after: float
    # A lease whose worker has not beaten its heartbeat for this long is taken over.
    takeover_seconds: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        schedule = tuple(float(s) for s in settings.webhook_retry_schedule.split(",") if s.strip())
        return cls(
            schedule,
            settings.webhook_connect_timeout,
            settings.webhook_timeout,
            settings.webhook_lease_seconds,
            settings.webhook_disable_after,
            settings.worker_takeover_seconds,
        )

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

    def retry_delay(self, attempts_made: int, asked: float | None = None) -> float | None:
        """Seconds until the next try after `attempts_made` failures, None when none is left.
        A receiver's Retry-After (`asked`) is honoured within the schedule's bounds."""
        if attempts_made > len(self.schedule):
            return None
        if asked is not None:
            return min(max(asked, min(self.schedule)), max(self.schedule))
        base = self.schedule[attempts_made - 1]
        return base * random.uniform(1 - JITTER, 1 + JITTER)
