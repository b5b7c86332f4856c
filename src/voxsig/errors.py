"""One error family, one JSON shape: {"error", "message", "errors": [{"field", "message"}]}."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("voxsig")


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(ApiError):
    status = 422
    code = "validation_failed"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class RequestTimeout(ApiError):
    status = 408
    code = "request_timeout"


def error_body(
    code: str, message: str, errors: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {"error": code, "message": message, "errors": errors or []}


LOCATIONS = ("body", "query", "path", "header")
# Names pydantic gives the branches of a union ("int", "literal['low']", "function-after[...]").
UNION_TAGS = re.compile(r"^(int|float|str|bool|list|dict|none|constrained-\w+|[\w-]+\[.*\])$")


def _field_name(loc: tuple[Any, ...]) -> str:
    """`priority`, `message.content`, `labels.0`: the field as the client sent it."""
    parts = [str(p) for p in loc if p not in LOCATIONS and not UNION_TAGS.match(str(p))]
    return ".".join(parts) or "body"


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    errors = [{"field": exc.field, "message": exc.message}] if exc.field else []
    return JSONResponse(error_body(exc.code, exc.message, errors), status_code=exc.status)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """Both FastAPI's body validation and pydantic models validated inside a route."""
    assert isinstance(exc, RequestValidationError | ValidationError)
    if any(err["loc"][:1] == ("path",) for err in exc.errors()):
        # /conversations/abc or /conversations/99999999999 names nothing that could exist.
        return JSONResponse(error_body("not_found", "Not found"), status_code=404)
    errors: list[dict[str, str]] = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            message = "The body is not valid JSON: " + str(err.get("ctx", {}).get("error", ""))
            return JSONResponse(
                error_body(
                    "malformed_json", message.strip(": "), [{"field": "body", "message": message}]
                ),
                status_code=400,
            )
        message = str(err["msg"]).removeprefix("Value error, ")
        field = _field_name(tuple(err["loc"]))
        same = next((e for e in errors if e["field"] == field), None)
        if same is None:
            errors.append({"field": field, "message": message})
        elif message not in same["message"]:
            same["message"] += f", or {message[0].lower()}{message[1:]}"
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return JSONResponse(error_body("validation_failed", summary, errors), status_code=422)


# FastAPI's answer when decoding the body raised something other than a JSON syntax error:
# e.g. RecursionError for `[[[[…` nested a hundred thousand levels.
UNPARSABLE = "There was an error parsing the body"


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == UNPARSABLE:
        message = "The body cannot be read as JSON (nested too deeply, or not JSON at all)"
        return JSONResponse(
            error_body("malformed_json", message, [{"field": "body", "message": message}]),
            status_code=400,
        )
    codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    code = codes.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        error_body(
            "internal_error",
            "Something went wrong on our side; it is "
            "logged. Try again, and report it if it persists.",
        ),
        status_code=500,
        # The server drops the connection after a crash; say so, or the client's next request
        # on this keep-alive connection fails.
        headers={"connection": "close"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
