"""What can go wrong talking to Optimove, classified so an administrator knows what to fix.

Every class is an `AppError` (a 502, or 504 for a timeout), so a web endpoint can let one escape
and the error handler answers with its plain-language message. Messages never contain the API
key: the client builds them itself and redacts the key from anything Optimove echoes back.
"""

from __future__ import annotations

from typing import ClassVar

from optibridge.errors import AppError


class OptimoveError(AppError):
    """Optimove could not do what we asked.

    `upstream_status` is Optimove's HTTP status when it answered; `endpoint` is the call, e.g.
    `GET model/GetCustomerAttributeList`. `retryable` says whether trying later can help.
    """

    retryable: ClassVar[bool] = False
    default_code: ClassVar[str] = "optimove_failed"

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


class BadCredentialsError(OptimoveError):
    """401/403: the API key is wrong, revoked, or lacks the access this call needs."""

    default_code = "optimove_bad_credentials"


class NotOptimoveApiError(OptimoveError):
    """The Base URL answers, but not like Optimove (404 on a known path, HTML, wrong shape)."""

    default_code = "optimove_not_an_api"


class PrivateAddressError(OptimoveError):
    """The host resolves to a private, loopback or link-local address and this deployment does
    not allow those (the SSRF guard, `OPTIBRIDGE_ALLOW_PRIVATE_URLS`). Nothing was sent."""

    default_code = "optimove_private_address"


class UnreachableError(OptimoveError):
    """No HTTP answer at all: the name does not resolve, the connection or TLS failed."""

    retryable = True
    default_code = "optimove_unreachable"


class InvalidRequestError(OptimoveError):
    """Optimove refused this request (400, 405, other 4xx); sending it again will not help."""

    default_code = "optimove_invalid_request"


class UpsertUnavailableError(InvalidRequestError):
    """The account lacks `Customers/UpsertCustomer` (Optimove is still rolling it out)."""

    default_code = "optimove_upsert_unavailable"


class TransientError(OptimoveError):
    """Still failing after the last retry: 429, 5xx, 408 or a timeout. Later may work."""

    retryable = True
    default_code = "optimove_unavailable"
