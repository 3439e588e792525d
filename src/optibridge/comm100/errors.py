"""What can go wrong talking to Comm100's v4 API, classified so an administrator knows what to fix.

Every class is an `AppError` (a 502, 504 for a timeout, 404 for a missing ticket), so a web
endpoint can let one escape and the error handler answers with its plain-language message.
Messages never contain the API key: the client builds them itself and redacts the key (and the
Basic credentials) from anything Comm100 echoes back.
"""

from __future__ import annotations

from typing import ClassVar

from optibridge.errors import AppError


class Comm100Error(AppError):
    """Comm100 could not do what we asked.

    `upstream_status` is Comm100's HTTP status when it answered; `endpoint` is the call, e.g.
    `GET contact/fields`. `retryable` says whether trying later can help.
    """

    retryable: ClassVar[bool] = False
    default_code: ClassVar[str] = "comm100_failed"

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


class BadCredentialsError(Comm100Error):
    """401/403: the agent e-mail, the API key or the site id is wrong, or lacks permission."""

    default_code = "comm100_bad_credentials"


class NotComm100ApiError(Comm100Error):
    """The API base URL answers, but not like Comm100 (404 on a known path, HTML, wrong shape)."""

    default_code = "comm100_not_an_api"


class PrivateAddressError(Comm100Error):
    """The host resolves to a private, loopback or link-local address and this deployment does
    not allow those (the SSRF guard, `OPTIBRIDGE_ALLOW_PRIVATE_URLS`). Nothing was sent."""

    default_code = "comm100_private_address"


class UnreachableError(Comm100Error):
    """No HTTP answer at all: the name does not resolve, the connection or TLS failed."""

    retryable = True
    default_code = "comm100_unreachable"


class InvalidRequestError(Comm100Error):
    """Comm100 refused this request (400, 405, other 4xx); sending it again will not help."""

    default_code = "comm100_invalid_request"


class NotFoundError(Comm100Error):
    """The thing asked for (a ticket) does not exist, or no longer does."""

    default_code = "comm100_not_found"

    def __init__(
        self, message: str, *, upstream_status: int | None = 404, endpoint: str | None = None
    ) -> None:
        super().__init__(
            message, upstream_status=upstream_status, endpoint=endpoint, http_status=404
        )


class TransientError(Comm100Error):
    """Still failing after the last retry: 429, 5xx, 408 or a timeout. Later may work."""

    retryable = True
    default_code = "comm100_unavailable"
