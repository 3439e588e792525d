"""What can go wrong talking to Optimove, classified so an administrator knows what to fix.

Each class is an `OptimoveError` and one of the shared kinds of `optibridge.vendor_http.errors`,
which carries the retryable flag and the statuses (a 502, or 504 for a timeout). Messages never
contain the API key: the client builds them itself and redacts the key from anything Optimove
echoes back.
"""

from __future__ import annotations

from optibridge.vendor_http import errors as kinds


class OptimoveError(kinds.VendorError):
    """Optimove could not do what we asked.

    `upstream_status` is Optimove's HTTP status when it answered; `endpoint` is the call, e.g.
    `GET model/GetCustomerAttributeList`. `retryable` says whether trying later can help.
    """

    default_code = "optimove_failed"


class BadCredentialsError(OptimoveError, kinds.BadCredentialsError):
    """401/403: the API key is wrong, revoked, or lacks the access this call needs."""

    default_code = "optimove_bad_credentials"


class NotOptimoveApiError(OptimoveError, kinds.NotTheApiError):
    """The Base URL answers, but not like Optimove (404 on a known path, HTML, wrong shape)."""

    default_code = "optimove_not_an_api"


class PrivateAddressError(OptimoveError, kinds.PrivateAddressError):
    default_code = "optimove_private_address"


class UnreachableError(OptimoveError, kinds.UnreachableError):
    default_code = "optimove_unreachable"


class InvalidRequestError(OptimoveError, kinds.InvalidRequestError):
    default_code = "optimove_invalid_request"


class UpsertUnavailableError(InvalidRequestError):
    """The account lacks `Customers/UpsertCustomer` (Optimove is still rolling it out)."""

    default_code = "optimove_upsert_unavailable"


class TransientError(OptimoveError, kinds.TransientError):
    default_code = "optimove_unavailable"
