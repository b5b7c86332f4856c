"""Request-body base class: unknown fields are ignored, as Chatwoot's API does."""

from __future__ import annotations

from typing import Annotated, Any

from annotated_types import Interval
from pydantic import BaseModel, ConfigDict, field_validator


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        """PostgreSQL stores no NUL character in text or JSON: refuse it for both databases."""
        if _has_nul(data):
            raise ValueError("text must not contain the NUL character (\\u0000)")
        return data


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


# Every row id fits PostgreSQL's 32-bit integer: a larger one names nothing and must be a
# validation error, not a database overflow.
MAX_ID = 2**31 - 1
Id = Annotated[int, Interval(ge=1, le=MAX_ID)]
# A position between ids (before=/after= paging): 0 is before the first row.
Cursor = Annotated[int, Interval(ge=0, le=MAX_ID)]
