"""Request-body base class: unknown fields are ignored, as Chatwoot's API does; every field
holds no NUL character and no JSON deeper or larger than kit.json_limits allows."""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, ClassVar

from annotated_types import Interval
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from voxsig.kit import json_limits


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    # Fields whose value is itself a Body (InboxCreate.channel, ConversationCreate.message):
    # their own fields are checked one by one, so a long message is not judged as one blob.
    _nested_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._nested_fields = frozenset(
            name for name, field in cls.model_fields.items() if _holds_model(field.annotation)
        )

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, data: Any, info: ValidationInfo) -> Any:
        """PostgreSQL stores no NUL character in text or JSON: refuse it for both databases.
        Free-form JSON gets one bound on depth and size, so no stored value can break the
        answers that show it (the serializer gives up at 254 levels)."""
        if info.field_name in cls._nested_fields:
            return data
        reason = json_limits.problem(data)
        if reason:
            raise ValueError(reason)
        return data


def _holds_model(annotation: Any) -> bool:
    """`FirstMessage`, `FirstMessage | None`, `list[FirstMessage]`: a model inside."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return False
    return any(_holds_model(arg) for arg in typing.get_args(annotation))


# Every row id fits PostgreSQL's 32-bit integer: a larger one names nothing and must be a
# validation error, not a database overflow.
MAX_ID = 2**31 - 1
Id = Annotated[int, Interval(ge=1, le=MAX_ID)]
# A position between ids (before=/after= paging): 0 is before the first row.
Cursor = Annotated[int, Interval(ge=0, le=MAX_ID)]
# The deepest page number any list accepts (a 422 beyond, in the API; page 1 in the dashboard).
MAX_PAGE = 100_000


def one_of(values: typing.Iterable[str]) -> str:
    """A query pattern that matches exactly one of `values` (plain words, no regex syntax)."""
    return f"^({'|'.join(values)})$"
