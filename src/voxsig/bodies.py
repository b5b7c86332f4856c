"""A JSON request body read by the route itself, with FastAPI's own rules and errors: for
routes that take another media type too (a message with files is `multipart/form-data`), and
so cannot declare a body parameter (FastAPI would read every body whole before the route)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from voxsig.errors import UNPARSABLE

M = TypeVar("M", bound=BaseModel)


def _is_json(content_type: str | None) -> bool:
    """No content type, or application/json (or any +json), as FastAPI decides."""
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def json_body(request: Request, model: type[M]) -> M:
    """The body as `model`: a 422 naming each field for what does not fit, 422 `body` for a
    missing body or one of another media type, 400 for what is not JSON."""
    raw = await request.body()
    if not raw:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    data: Any = raw
    if _is_json(request.headers.get("content-type")):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as error:
            raise RequestValidationError(
                [
                    {
                        "type": "json_invalid",
                        "loc": ("body", error.pos),
                        "msg": "JSON decode error",
                        "input": {},
                        "ctx": {"error": error.msg},
                    }
                ]
            ) from error
        except (RecursionError, UnicodeDecodeError) as error:
            raise HTTPException(400, UNPARSABLE) from error
    return _validated(model, data)


def form_body(fields: dict[str, str], model: type[M], json_fields: tuple[str, ...] = ()) -> M:
    """A `multipart/form-data` message's text fields as `model`, with the errors `json_body`
    gives: the fields in `json_fields` (e.g. `content_attributes`) carry JSON text; a number
    sent as text is the model's to read (pydantic takes "1" for an int, "true" for a bool)."""
    data: dict[str, Any] = {}
    for name, value in fields.items():
        if name in json_fields:
            try:
                data[name] = json.loads(value) if value.strip() else None
            except (json.JSONDecodeError, RecursionError) as error:
                raise RequestValidationError(
                    [
                        {
                            "type": "value_error",
                            "loc": ("body", name),
                            "msg": "must be JSON text (a form field)",
                            "input": value[:100],
                        }
                    ]
                ) from error
            if data[name] is None:
                del data[name]
        else:
            data[name] = value
    return _validated(model, data)


def _validated(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        ) from error
