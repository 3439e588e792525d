"""Typed errors that carry their HTTP status; one handler turns them into SPEC 5's JSON shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Problem:
    """One thing wrong with an input, located by a JSON pointer (RFC 6901)."""

    pointer: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"pointer": self.pointer, "message": self.message}


@dataclass
class AppError(Exception):
    """An error a client can act on. `message` must never contain a secret."""

    message: str
    details: list[Problem] = field(default_factory=list)
    status: int = 400
    code: str = "bad_request"

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def as_body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "details": [p.as_dict() for p in self.details],
            }
        }


class BadRequest(AppError):
    def __init__(self, message: str, details: list[Problem] | None = None) -> None:
        super().__init__(message, details or [], 400, "bad_request")


class Unauthorized(AppError):
    def __init__(self, message: str = "A valid bearer token is required.") -> None:
        super().__init__(message, [], 401, "unauthorized")


class Forbidden(AppError):
    def __init__(self, message: str = "This token may not do that.") -> None:
        super().__init__(message, [], 403, "forbidden")


class NotFound(AppError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], 404, "not_found")


class Conflict(AppError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], 409, "conflict")


class PayloadTooLarge(AppError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], 413, "payload_too_large")


class Invalid(AppError):
    """422: the input is well-formed but breaks rules; every problem is listed."""

    def __init__(self, message: str, details: list[Problem]) -> None:
        super().__init__(message, details, 422, "invalid")


class UpstreamFailed(AppError):
    """502: Optimove or Comm100 answered, but not with what we needed."""

    def __init__(self, message: str, code: str = "upstream_failed") -> None:
        super().__init__(message, [], 502, code)


class UpstreamTimeout(AppError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], 504, "upstream_timeout")
