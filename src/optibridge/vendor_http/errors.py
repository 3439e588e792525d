"""What can go wrong talking to a vendor's API, by kind, each kind with its retryable flag.

Each vendor subclasses these twice over: `class UnreachableError(OptimoveError,
vendor_http.errors.UnreachableError)`, so callers catch `OptimoveError` or `Comm100Error` (never
confusing the two) and the shared client raises the kind it found. Every class is an `AppError`
(a 502, 504 for a timeout), so a web endpoint can let one escape and the error handler answers
with its plain-language message. Messages never contain a secret: the client builds them itself
and redacts what the vendor echoes back.
"""

from __future__ import annotations

from typing import ClassVar

from optibridge.errors import AppError


class VendorError(AppError):
    """The vendor could not do what we asked.

    `upstream_status` is the vendor's HTTP status when it answered; `endpoint` is the call, e.g.
    `GET contact/fields`. `retryable` says whether trying later can help.
    """

    retryable: ClassVar[bool] = False
    default_code: ClassVar[str] = "vendor_failed"

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        endpoint: str | None = None,
        http_status: int = 502,
    ) -> None:
        super().__init__(message, [], http_status, self.default_code)
        self.upstream_status = upstream_status
        self.endpoint = endpoint


class BadCredentialsError(VendorError):
    """401/403: the credentials are wrong, revoked, or lack the access this call needs."""


class NotTheApiError(VendorError):
    """The base URL answers, but not like the vendor's API (404 on a known path, HTML, wrong
    shape)."""


class PrivateAddressError(VendorError):
    """The host resolves to a private, loopback or link-local address and this deployment does
    not allow those (the SSRF guard, `OPTIBRIDGE_ALLOW_PRIVATE_URLS`). Nothing was sent."""


class UnreachableError(VendorError):
    """No HTTP answer at all: the name does not resolve, the connection or TLS failed."""

    retryable = True


class InvalidRequestError(VendorError):
    """The vendor refused this request (400, 405, other 4xx); sending it again will not help."""


class TransientError(VendorError):
    """Still failing after the last retry: 429, 5xx, 408 or a timeout. Later may work."""

    retryable = True
