"""Reading posted forms, and turning validation failures into "field -> message" for the
templates, which show each message next to its field."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError
from starlette.datastructures import FormData

from voxsig.errors import ApiError
from voxsig.kit.schema import MAX_ID

Errors = dict[str, str]


def text(form: Mapping[str, object], name: str) -> str:
    """A field as posted, trimmed: from a FormData, or a multipart body's text fields."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def optional(form: FormData, name: str) -> str | None:
    return text(form, name) or None


def number(form: FormData, name: str) -> int | None:
    """A row id as posted (user ids are random up to MAX_ID, often ten digits), else None."""
    value = text(form, name)
    if not (value.isascii() and value.isdigit()) or len(value) > len(str(MAX_ID)):
        return None
    return int(value) if int(value) <= MAX_ID else None


def whole_or_typed(form: FormData, name: str) -> int | str | None:
    """A whole number, or what was typed instead (for the model to refuse, with its message
    next to the field), or None when left empty."""
    value = text(form, name)
    return int(value) if value.isdigit() and len(value) < 10 else (value or None)


def checked(form: FormData, name: str) -> list[str]:
    """Every ticked checkbox named `name`."""
    return [v for v in form.getlist(name) if isinstance(v, str)]


def validation_errors(exc: ValidationError) -> Errors:
    errors: Errors = {}
    for err in exc.errors():
        # The innermost named field: ("channel", "website_url") -> website_url, ("labels", 0)
        # -> labels, as the forms name their fields.
        names = [part for part in err["loc"] if isinstance(part, str)]
        name = names[-1] if names else "form"
        errors.setdefault(name, str(err["msg"]).removeprefix("Value error, "))
    return errors


def api_errors(exc: ApiError, default: str) -> Errors:
    return {exc.field or default: exc.message}
