"""Optimove's wire shapes: what we send, and tolerant readers of what it answers.

Nothing outside `optibridge.optimove` knows Optimove's JSON casing. The readers accept the
documented shapes and the variants seen in the wild (key casing, extra keys, numbers where
strings were documented) and raise `ShapeError` for anything else; they never crash on a
strange body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from optibridge.domain.attributes import AttributeInfo
from optibridge.vendor_http import bodies
from optibridge.vendor_http.bodies import Body, json_kind, trim

MAX_CUSTOMERS_PER_UPDATE = 1000
MAX_ATTRIBUTES_PER_CUSTOMER = 10


class ShapeError(ValueError):
    """A body that is not what Optimove sends; the message says what was found instead."""


@dataclass(frozen=True)
class CustomerAttribute:
    """One attribute of one customer, with its current value (None when empty)."""

    real_field_name: str
    value: str | None
    alias: str | None = None
    field_type: str | None = None


@dataclass(frozen=True)
class CustomerAttributes:
    """A customer Optimove knows, with every attribute it returned."""

    customer_id: str
    attributes: tuple[CustomerAttribute, ...]

    def values(self) -> dict[str, str | None]:
        """RealFieldName → value."""
        return {a.real_field_name: a.value for a in self.attributes}


@dataclass(frozen=True)
class CustomerUpdate:
    """New values for some attributes of one existing customer (RealFieldName → value)."""

    customer_id: str
    attributes: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class WriteAccepted:
    """Optimove took a write; the outcome comes later to the callback, tagged `request_id`."""

    request_id: str | None


# --- request bodies ----------------------------------------------------------------------


def _attribute_values(attributes: Mapping[str, str | None]) -> list[dict[str, str | None]]:
    return [{"RealFieldName": name, "Value": value} for name, value in attributes.items()]


def update_attributes_body(
    updates: Sequence[CustomerUpdate], callback_url: str | None
) -> dict[str, Any]:
    """`UpdateCustomerAttributes`; refuses what Optimove would (callers split big batches)."""
    if not updates:
        raise ValueError("an update needs at least one customer")
    if len(updates) > MAX_CUSTOMERS_PER_UPDATE:
        raise ValueError(
            f"an update may carry at most {MAX_CUSTOMERS_PER_UPDATE} customers, got {len(updates)}"
        )
    for update in updates:
        if not update.customer_id:
            raise ValueError("a customer id cannot be empty")
        if not update.attributes:
            raise ValueError(f"customer {update.customer_id}: no attributes to update")
        if len(update.attributes) > MAX_ATTRIBUTES_PER_CUSTOMER:
            raise ValueError(
                f"customer {update.customer_id}: at most {MAX_ATTRIBUTES_PER_CUSTOMER} "
                f"attributes per update, got {len(update.attributes)}"
            )
    body: dict[str, Any] = {
        "CustomerNewAttributesValuesList": [
            {"CustomerID": u.customer_id, "Attributes": _attribute_values(u.attributes)}
            for u in updates
        ]
    }
    if callback_url:
        body["CallbackURL"] = callback_url
    return body


def upsert_customer_body(
    customer_id: str, attributes: Mapping[str, str | None], callback_url: str | None
) -> dict[str, Any]:
    """`UpsertCustomer` (note Optimove's own casing: `CustomerId`, `CallbackUrl`)."""
    if not customer_id:
        raise ValueError("a customer id cannot be empty")
    body: dict[str, Any] = {"CustomerId": customer_id, "Attributes": _attribute_values(attributes)}
    if callback_url:
        body["CallbackUrl"] = callback_url
    return body


# --- response bodies ---------------------------------------------------------------------


def _normal_key(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def _get(obj: Mapping[str, Any], name: str) -> Any:
    """obj[name], ignoring case and `_`/`-` (Optimove writes `CustomerID` and `CustomerId`)."""
    if name in obj:
        return obj[name]
    wanted = _normal_key(name)
    for key, value in obj.items():
        if isinstance(key, str) and _normal_key(key) == wanted:
            return value
    return None


def error_message(body: Body) -> str:
    """Optimove's own explanation of an error, one line and trimmed, or '' when it gave none."""
    return bodies.error_message(body, _get)


def _optional_text(value: Any) -> str | None:
    """A value as Optimove means it: strings as they are, numbers and booleans as text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _required_name(item: Any, where: str) -> str:
    if not isinstance(item, Mapping):
        raise ShapeError(f"{where}: expected objects, found a JSON {json_kind(item)}")
    name = _get(item, "RealFieldName")
    if not isinstance(name, str) or not name:
        raise ShapeError(f"{where}: an entry has no RealFieldName")
    return name


def _as_list(body: Body, where: str, wrapper_key: str | None = None) -> list[Any]:
    if body.kind != "json":
        raise ShapeError(f"{where}: expected JSON, found {body.describe()}")
    value = body.value
    if wrapper_key and isinstance(value, Mapping):
        value = _get(value, wrapper_key)
    if not isinstance(value, list):
        raise ShapeError(f"{where}: expected a JSON list, found {body.describe()}")
    return value


def parse_attribute_list(body: Body) -> list[AttributeInfo]:
    """`[{"RealFieldName": "Age", "Description": "…"}, …]` (Alias/FieldType when present)."""
    items = _as_list(body, "the attribute list")
    attributes = []
    for item in items:
        name = _required_name(item, "the attribute list")
        attributes.append(
            AttributeInfo(
                real_field_name=name,
                description=_optional_text(_get(item, "Description")) or "",
                alias=_optional_text(_get(item, "Alias")),
                field_type=_optional_text(_get(item, "FieldType")),
            )
        )
    return attributes


def parse_customer_attributes(customer_id: str, body: Body) -> CustomerAttributes | None:
    """`[{"RealFieldName", "Alias", "FieldType", "Value"}, …]`; `[]` or null means not found."""
    if body.kind == "empty" or (body.kind == "json" and body.value in (None, [])):
        return None
    items = _as_list(body, "the customer's attributes", wrapper_key="Attributes")
    if not items:
        return None
    attributes = []
    for item in items:
        name = _required_name(item, "the customer's attributes")
        attributes.append(
            CustomerAttribute(
                real_field_name=name,
                value=_optional_text(_get(item, "Value")),
                alias=_optional_text(_get(item, "Alias")),
                field_type=_optional_text(_get(item, "FieldType")),
            )
        )
    return CustomerAttributes(customer_id=customer_id, attributes=tuple(attributes))


# What a request id looks like when a write answers with a bare string: a token with a digit,
# so that a plain "OK" or "Accepted" is not mistaken for one.
_REQUEST_ID = re.compile(r"^(?=.*\d)[A-Za-z0-9_.:-]{6,100}$")  # fits the column


def parse_request_id(body: Body) -> str | None:
    """The `requestId` a write answered, if any: `{"requestId": …}`, a bare id, or nothing."""
    value = body.value
    if body.kind == "json" and isinstance(value, Mapping):
        value = _get(value, "requestId")
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
    elif body.kind not in ("json", "text"):
        return None
    if isinstance(value, str) and _REQUEST_ID.match(value.strip()):
        return value.strip()
    return None


def parse_write_errors(body: Body) -> list[str]:
    """What a write's direct answer refused, in words: `UpsertCustomer` reports input errors in
    its answer (an `errors` array), not only by callback (reference/optimove.md). Each item may
    be a word, or an object naming the error, the customer and the field."""
    value = body.value
    if body.kind != "json" or not isinstance(value, Mapping):
        return []
    errors = _get(value, "errors")
    if not isinstance(errors, list):
        return []
    described = []
    for item in errors[:20]:
        if isinstance(item, Mapping):
            code = _get(item, "error") or _get(item, "errorCode") or _get(item, "message")
            field = _get(item, "realFieldName") or _get(item, "field")
            text = str(code) if code not in (None, "") else "an error"
            described.append(f"{text} ({field})" if field else text)
        elif item not in (None, ""):
            described.append(str(item))
    return [trim(text) for text in described]


def parse_last_data_update(body: Body) -> date | None:
    """`{"Date": "YYYY-MM-DD"}` (also a bare date string, or a timestamp); None when absent."""
    value = body.value
    if body.kind == "json" and isinstance(value, Mapping):
        value = _get(value, "Date")
    elif body.kind not in ("json", "text", "empty"):
        raise ShapeError(f"the last data update: expected JSON, found {body.describe()}")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ShapeError(f"the last data update: expected a date, found a JSON {json_kind(value)}")
    text = value.strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        raise ShapeError(f"the last data update: {trim(text, 40)!r} is not a date") from None
