"""Optimove's asynchronous update results, as POSTed to our CallbackURL (reference/optimove.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from optibridge import safe_text


class CallbackShapeError(ValueError):
    """The body is not an update result we can read."""


@dataclass(frozen=True)
class CallbackError:
    error: str  # INVALID_CUSTOMER, INVALID_FIELD, INVALID_VALUE, UPDATE_FIELD_TEMPORARY_UNAVAILABLE
    customer_id: str | None
    field: str | None


@dataclass(frozen=True)
class UpdateResult:
    success: bool
    request_id: str | None
    errors: tuple[CallbackError, ...]

    def errors_by_customer(self) -> dict[str | None, list[CallbackError]]:
        grouped: dict[str | None, list[CallbackError]] = {}
        for error in self.errors:
            grouped.setdefault(error.customer_id, []).append(error)
        return grouped


def parse_update_callback(body: bytes) -> UpdateResult:
    try:
        document = safe_text.loads(body).value
    except safe_text.JsonTooDeep as error:
        raise CallbackShapeError(f"the body is not usable JSON: {error}") from None
    except ValueError:
        raise CallbackShapeError("the body is not JSON") from None
    if not isinstance(document, Mapping):
        raise CallbackShapeError("the body is not a JSON object")
    fields = {str(key).lower(): value for key, value in document.items()}
    success = fields.get("issuccess")
    if not isinstance(success, bool):
        raise CallbackShapeError("'isSuccess' must be true or false")
    request_id = fields.get("requestid")
    raw_errors = fields.get("errors") or []
    if not isinstance(raw_errors, list):
        raise CallbackShapeError("'errors' must be a list")
    return UpdateResult(
        success=success,
        request_id=str(request_id) if request_id not in (None, "") else None,
        errors=tuple(_error(item) for item in raw_errors),
    )


def _error(item: Any) -> CallbackError:
    if not isinstance(item, Mapping):
        return CallbackError(error=str(item), customer_id=None, field=None)
    fields = {str(key).lower(): value for key, value in item.items()}
    customer = fields.get("customerid")
    field = fields.get("realfieldname")
    return CallbackError(
        error=str(fields.get("error") or "UNKNOWN_ERROR"),
        customer_id=str(customer) if customer not in (None, "") else None,
        field=str(field) if field not in (None, "") else None,
    )
