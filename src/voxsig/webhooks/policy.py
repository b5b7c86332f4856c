"""What counts as delivered, and when a failed delivery is tried again. Every number is a
setting (VOXSIG_WEBHOOK_*)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from voxsig.config import Settings

JITTER = 0.2


@dataclass(frozen=True)
class Policy:
    schedule: tuple[float, ...]
    connect_timeout: float
    total_timeout: float
    lease_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        schedule = tuple(float(s) for s in settings.webhook_retry_schedule.split(",") if s.strip())
        return cls(
            schedule,
            settings.webhook_connect_timeout,
            settings.webhook_timeout,
            settings.webhook_lease_seconds,
        )

    @property
    def max_attempts(self) -> int:
        return len(self.schedule) + 1

    def retry_delay(self, attempts_made: int) -> float | None:
        """Seconds until the next try after `attempts_made` failures; None when none is left."""
        if attempts_made > len(self.schedule):
            return None
        base = self.schedule[attempts_made - 1]
        return base * random.uniform(1 - JITTER, 1 + JITTER)
