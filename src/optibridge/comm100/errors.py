"""What can go wrong talking to Comm100's v4 API, classified so an administrator knows what to fix.

Each class is a `Comm100Error` and one of the shared kinds of `optibridge.vendor_http.errors`
(which carries the retryable flag and the statuses: a 502, 504 for a timeout), plus
`NotFoundError`, a 404 for a missing ticket, and `MissingPermissionError`, a 403 for an agent
who lacks the permission a call needs. Messages never contain the API key: the client
builds them itself and redacts the key (and the Basic credentials) from anything Comm100 echoes
back.
"""

from __future__ import annotations

from optibridge.vendor_http import errors as kinds


class Comm100Error(kinds.VendorError):
    """Comm100 could not do what we asked.

    `upstream_status` is Comm100's HTTP status when it answered; `endpoint` is the call, e.g.
    `GET contact/fields`. `retryable` says whether trying later can help.
    """

    default_code = "comm100_failed"


class BadCredentialsError(Comm100Error, kinds.BadCredentialsError):
    """401/403: the agent e-mail, the API key or the site id is wrong, or lacks permission."""

    default_code = "comm100_bad_credentials"


class MissingPermissionError(BadCredentialsError):
    """403 on a call that needs a permission the agent lacks: managing Live Chat webhooks needs
    *Manage Integration*. The credentials themselves work (other calls succeed).

    Answered 403, not 502: Comm100 works and said no; only the administrator can change that
    (give the agent the permission, or connect as one who has it), and trying again won't help.
    """

    default_code = "comm100_missing_permission"

    def __init__(
        self, message: str, *, upstream_status: int | None = 403, endpoint: str | None = None
    ) -> None:
        super().__init__(
            message, upstream_status=upstream_status, endpoint=endpoint, http_status=403
        )


class NotComm100ApiError(Comm100Error, kinds.NotTheApiError):
    """The API base URL answers, but not like Comm100 (404 on a known path, HTML, wrong shape)."""

    default_code = "comm100_not_an_api"


class PrivateAddressError(Comm100Error, kinds.PrivateAddressError):
    default_code = "comm100_private_address"


class UnreachableError(Comm100Error, kinds.UnreachableError):
    default_code = "comm100_unreachable"


class InvalidRequestError(Comm100Error, kinds.InvalidRequestError):
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


class TransientError(Comm100Error, kinds.TransientError):
    default_code = "comm100_unavailable"
