"""Request-body base class: unknown fields are ignored, as Chatwoot's API does."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
