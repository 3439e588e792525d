"""One place that turns every failure into SPEC 5's error shape."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from optibridge.errors import AppError, Problem
from optibridge.logs import get_logger
from optibridge.secret_box import SecretKeyMismatch

log = get_logger(__name__)

ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "busy",
}


def error_body(code: str, message: str, details: list[Problem] | None = None) -> dict[str, Any]:
    return AppError(message, details or [], 0, code).as_body()


def problem_of(item: dict[str, Any]) -> Problem:
    """A FastAPI validation error as a Problem: body errors get a JSON pointer into the body,
    query/path/header errors name the parameter."""
    location = [str(part) for part in item.get("loc", ())]
    message = str(item.get("msg", "is not valid"))
    if location and location[0] == "body":
        escaped = [part.replace("~", "~0").replace("/", "~1") for part in location[1:]]
        return Problem("".join(f"/{part}" for part in escaped), message)
    if len(location) >= 2:
        return Problem("", f"{location[0]} parameter '{location[1]}': {message}")
    return Problem("", message)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, error: AppError) -> JSONResponse:
        return JSONResponse(error.as_body(), status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [problem_of(item) for item in error.errors()]
        if any(item.get("type") == "json_invalid" for item in error.errors()):
            body = error_body("bad_request", "The request body is not valid JSON.", problems)
            return JSONResponse(body, status_code=400)
        body = error_body("invalid", "The request is not valid.", problems)
        return JSONResponse(body, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, error: HTTPException) -> JSONResponse:
        code = ERROR_CODES.get(error.status_code, "error")
        message = error.detail if isinstance(error.detail, str) else "The request failed."
        return JSONResponse(
            error_body(code, message), status_code=error.status_code, headers=error.headers
        )

    @app.exception_handler(SecretKeyMismatch)
    async def _wrong_secret_key(_request: Request, error: SecretKeyMismatch) -> JSONResponse:
        log.error("secret_key_mismatch", message=str(error))
        return JSONResponse(error_body("secret_key_mismatch", str(error)), status_code=500)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected_error", error_type=type(error).__name__)
        return JSONResponse(
            error_body("internal_error", "Something went wrong on our side; it has been logged."),
            status_code=500,
        )
