"""Errors as JSON: `{"error": "...", "kind": "..."}` with the status that fits, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import (
    Cancelled,
    ImageReadError,
    InvalidArgumentError,
    LibraryLockedError,
    LookalikeError,
    SpecMismatchError,
    TooManyItemsError,
    UnsupportedQueryError,
)

logger = logging.getLogger(__name__)
TOO_LARGE_LIMITS = ("max_pixels", "max_bytes")


def error_body(message: str, kind: str) -> dict[str, str]:
    return {"error": message, "kind": kind}


def status_for(error: LookalikeError) -> int:
    """The HTTP status of a lookalike error: 404 unknown id, 409 a library busy or not writable, 413 over
    a limit, 400 a bad image or an unsupported query, 422 a bad value, 503 shutting down, 500 anything else
    (a broken library, a model that won't load)."""
    if "unknown_id" in error.details or error.details.get("gone"):
        return 404
    if isinstance(error, LibraryLockedError) or error.details.get("conflict"):
        return 409
    if isinstance(error, ImageReadError):
        return 413 if error.details.get("limit") in TOO_LARGE_LIMITS else 400
    if isinstance(error, UnsupportedQueryError | SpecMismatchError):
        return 400
    if isinstance(error, InvalidArgumentError | TooManyItemsError):
        return 422
    if isinstance(error, Cancelled):  # the server is shutting down
        return 503
    return 500


def message_for(error: LookalikeError) -> str:
    """The error's line; server-side paths are left out (uploads are named by their form field)."""
    if isinstance(error, ImageReadError) or not error.reason:
        return str(error)
    return error.reason


def _reason(item: dict[str, Any]) -> str:
    """A validation problem in words: no Python types, no echo of the input."""
    message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
    if "UploadFile" in message:
        return "must be an uploaded file (a multipart/form-data file field)"
    if "<class" in message or item.get("type") in ("model_attributes_type", "dict_type", "model_type"):
        return "has the wrong type"
    return message


def _validation_message(error: RequestValidationError) -> str:
    problems = []
    for item in error.errors()[:3]:
        where = ".".join(str(part) for part in item.get("loc", ()) if part not in ("query", "path", "body", "header"))
        problems.append(f"{where or 'request body'}: {_reason(item)}")
    return "; ".join(problems) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """JSON bodies for lookalike errors, validation errors, HTTP errors and anything unforeseen."""

    @app.exception_handler(LookalikeError)
    async def lookalike_error(request: Request, exc: LookalikeError) -> JSONResponse:
        status = status_for(exc)
        if status == 500:
            logger.error("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(error_body(message_for(exc), exc.kind), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(_validation_message(exc), "invalid_argument"), status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        kind = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 429: "too_many_attempts"}.get(exc.status_code, "http")
        headers: dict[str, Any] | None = getattr(exc, "headers", None)
        return JSONResponse(error_body(str(exc.detail), kind), status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def unforeseen(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse(error_body("internal server error", "internal"), status_code=500)
