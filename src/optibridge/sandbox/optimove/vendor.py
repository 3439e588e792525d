"""The Optimove API as the sandbox answers it: gate (key, limit, faults), route, endpoints.

Everything reachable here is the vendor's surface: its shapes, casing and error bodies, which
vary on purpose (plain text, a bare JSON string, JSON objects) as the real API's do.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from optibridge.sandbox.faults import Admitted, Refused, answer_with_faults, draw_faults
from optibridge.sandbox.optimove.state import (
    AcceptedWrite,
    AttributeChange,
    CustomerChanges,
    Limits,
    LoggedRequest,
    SandboxState,
    SentCallback,
    value_fits,
)
from optibridge.sandbox.vendor_api import (
    NOT_JSON,
    Endpoint,
    allowed_methods,
    endpoint_for,
    key_is_accepted,
    parse_json,
    path_segments,
    read_body,
)

MAX_CUSTOMERS_PER_UPDATE = 1_000
MAX_ATTRIBUTES_PER_CUSTOMER = 10
CALLBACK_TIMEOUT_S = 10.0


# --- the gate: key, rate limit, injected faults -----------------------------------------------


def _admit(state: SandboxState, request: Request) -> Admitted | Refused:
    """Decide at arrival, before any await, so concurrent calls are judged in arrival order.

    Faults are drawn for keyed calls only; a call refused with 429 does not count."""
    faults = state.faults
    key = request.headers.get("x-api-key")
    if not key:
        return Refused(faults, _unauthorized("The X-API-KEY header is missing."))
    if not key_is_accepted(key, state.keys):
        return Refused(faults, _unauthorized("The API key is not valid or has been revoked."))
    drawn = draw_faults(state.fault_random, faults)
    if drawn.too_many_requests or not state.window.admit(key, time.monotonic(), state.limits):
        return Refused(faults, _too_many_requests(state.limits))
    return Admitted(faults, drawn)


def _unauthorized(message: str) -> Response:
    body = {"status": 401, "error": "Unauthorized", "message": message}
    return JSONResponse(body, status_code=401)


def _too_many_requests(limits: Limits) -> Response:
    message = (
        f"You have exceeded the rate limit of {limits.requests} requests per "
        f"{limits.window_seconds:g} seconds. Please retry later."
    )
    body = {"status": 429, "error": "Too Many Requests", "message": message}
    return JSONResponse(body, status_code=429)


def _server_error(status: int) -> Response:
    if status == 503:
        return PlainTextResponse("Service Unavailable", status_code=503)
    body = {"status": 500, "error": "Internal Server Error", "message": "An error has occurred."}
    return JSONResponse(body, status_code=500)


def _not_found(path: str) -> Response:
    message = f"No HTTP resource was found that matches the request URI '{path}'."
    return JSONResponse({"Message": message}, status_code=404)


def _method_not_allowed(method: str, allowed: list[str]) -> Response:
    message = f"The requested resource does not support http method '{method}'."
    return JSONResponse(
        {"Message": message}, status_code=405, headers={"Allow": ", ".join(allowed)}
    )


def _bad_request(message: str) -> Response:
    return PlainTextResponse(message, status_code=400)


# --- the entry point --------------------------------------------------------------------------


async def answer_vendor_call(state: SandboxState, request: Request, path: str) -> Response:
    """Answer one call to the vendor API; `path` is relative to the sandbox's root."""
    entry = state.requests.record(request.method, "/" + path, request.url.query)
    outcome = _admit(state, request)
    raw = await read_body(request)
    body = parse_json(raw) if raw else NOT_JSON  # an absent body is no JSON either
    entry.body = None if body is NOT_JSON else body
    response = await answer_with_faults(
        outcome, _server_error, lambda: _route(state, request, path, body, entry)
    )
    entry.status = response.status_code
    return response


# --- routing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    state: SandboxState
    request: Request
    captured: list[str]
    body: Any
    entry: LoggedRequest


_Handler = Callable[[_Call], Awaitable[Response]]


@dataclass(frozen=True)
class _Endpoint(Endpoint[_Handler]):
    is_upsert: bool = False


async def _route(
    state: SandboxState, request: Request, path: str, body: Any, entry: LoggedRequest
) -> Response:
    segments = path_segments(path)
    if len(segments) > 1 and segments[0].lower() == "current":
        segments = segments[1:]
    endpoints = [e for e in _ENDPOINTS if state.behaviour.upsert_enabled or not e.is_upsert]
    endpoint = endpoint_for(endpoints, segments, request.method)
    if endpoint is not None:
        captured = endpoint.captured(segments)
        return await endpoint.handler(_Call(state, request, captured, body, entry))
    allowed = allowed_methods(endpoints, segments)
    if not allowed:
        return _not_found("/" + path)
    return _method_not_allowed(request.method, allowed)


# --- reads ------------------------------------------------------------------------------------


async def _get_attribute_list(call: _Call) -> Response:
    attributes = [
        {"RealFieldName": a.real_field_name, "Description": a.description}
        for a in call.state.attributes.values()
    ]
    return JSONResponse(attributes)


async def _get_customer_attributes(call: _Call) -> Response:
    customer_id = call.captured[0]
    customer = call.state.customers.get(customer_id)
    if customer is None:
        match call.state.behaviour.unknown_customer:
            case "404":
                return PlainTextResponse(f"Customer '{customer_id}' not found.", status_code=404)
            case "400":
                message = f"Invalid CustomerID '{customer_id}'."
                return JSONResponse(message, status_code=400)  # a bare JSON string
            case "empty":
                return JSONResponse([])
    attributes = [
        {
            "RealFieldName": a.real_field_name,
            "Alias": a.shown_alias,
            "FieldType": a.field_type,
            "Value": customer.get(a.real_field_name),
        }
        for a in call.state.attributes.values()
    ]
    return JSONResponse(attributes)


async def _get_last_data_update(call: _Call) -> Response:
    configured = call.state.behaviour.last_data_update
    day = configured or (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    return JSONResponse({"Date": day})


# --- writes: validation -----------------------------------------------------------------------


class _InvalidBodyError(Exception):
    """A write body Optimove would refuse with 400; the message says what is wrong."""


def _object(value: Any, where: str, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _InvalidBodyError(f"{where} must be a JSON object.")
    unknown = sorted(set(value) - required - optional)
    if unknown:
        expected = ", ".join(sorted(required | optional))
        raise _InvalidBodyError(f"{where} has unknown properties {unknown}; expected: {expected}.")
    missing = sorted(required - set(value))
    if missing:
        raise _InvalidBodyError(f"{where} lacks the required properties {missing}.")
    return value


def _identifier(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _InvalidBodyError(f"{where} must be a non-empty string.")
    return value


def _callback_url(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL:
            url = None
        if url is not None and url.scheme in {"http", "https"} and url.host:
            return value
    raise _InvalidBodyError(f"{where} must be an absolute http(s) URL or null.")


def _attribute_changes(value: Any, where: str, minimum: int) -> list[AttributeChange]:
    if not isinstance(value, list):
        raise _InvalidBodyError(f"{where} must be a JSON array.")
    if len(value) > MAX_ATTRIBUTES_PER_CUSTOMER:
        raise _InvalidBodyError(
            f"{where} holds {len(value)} attributes; at most "
            f"{MAX_ATTRIBUTES_PER_CUSTOMER} are allowed per customer."
        )
    if len(value) < minimum:
        raise _InvalidBodyError(f"{where} must not be empty.")
    changes = []
    for index, item in enumerate(value):
        here = f"{where}[{index}]"
        attribute = _object(item, here, {"RealFieldName", "Value"}, set())
        name = _identifier(attribute["RealFieldName"], f"{here}.RealFieldName")
        new_value = attribute["Value"]
        if new_value is not None and not isinstance(new_value, str):
            raise _InvalidBodyError(f"{here}.Value must be a string or null.")
        changes.append(AttributeChange(real_field_name=name, value=new_value))
    return changes


def _parse_update(body: Any) -> tuple[list[CustomerChanges], str | None]:
    root = _object(body, "The body", {"CustomerNewAttributesValuesList"}, {"CallbackURL"})
    customers = root["CustomerNewAttributesValuesList"]
    where = "CustomerNewAttributesValuesList"
    if not isinstance(customers, list):
        raise _InvalidBodyError(f"{where} must be a JSON array.")
    if len(customers) > MAX_CUSTOMERS_PER_UPDATE:
        raise _InvalidBodyError(
            f"{where} holds {len(customers)} customers; at most "
            f"{MAX_CUSTOMERS_PER_UPDATE} are allowed per call."
        )
    if not customers:
        raise _InvalidBodyError(f"{where} must not be empty.")
    changes = []
    for index, item in enumerate(customers):
        here = f"{where}[{index}]"
        customer = _object(item, here, {"CustomerID", "Attributes"}, set())
        customer_id = _identifier(customer["CustomerID"], f"{here}.CustomerID")
        attributes = _attribute_changes(customer["Attributes"], f"{here}.Attributes", minimum=1)
        changes.append(CustomerChanges(customer_id=customer_id, attributes=attributes))
    return changes, _callback_url(root.get("CallbackURL"), "CallbackURL")


def _parse_upsert(body: Any) -> tuple[list[CustomerChanges], str | None]:
    root = _object(body, "The body", {"CustomerId", "Attributes"}, {"CallbackUrl"})
    customer_id = _identifier(root["CustomerId"], "CustomerId")
    attributes = _attribute_changes(root["Attributes"], "Attributes", minimum=0)
    changes = [CustomerChanges(customer_id=customer_id, attributes=attributes)]
    return changes, _callback_url(root.get("CallbackUrl"), "CallbackUrl")


def _is_json_content(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


# --- writes: acceptance and settlement --------------------------------------------------------


async def _update_customer_attributes(call: _Call) -> Response:
    return _accept_write(call, "UpdateCustomerAttributes", _parse_update)


async def _upsert_customer(call: _Call) -> Response:
    return _accept_write(call, "UpsertCustomer", _parse_upsert)


def _accept_write(
    call: _Call,
    endpoint: Literal["UpdateCustomerAttributes", "UpsertCustomer"],
    parse: Callable[[Any], tuple[list[CustomerChanges], str | None]],
) -> Response:
    if not _is_json_content(call.request):
        return PlainTextResponse(
            "The request entity's media type is not supported: send application/json.",
            status_code=415,
        )
    if call.body is NOT_JSON:
        return _bad_request("The request body is not valid JSON.")
    try:
        changes, callback_url = parse(call.body)
    except _InvalidBodyError as invalid:
        return _bad_request(str(invalid))
    state = call.state
    write = AcceptedWrite(
        request_id=str(uuid.uuid4()),
        endpoint=endpoint,
        changes=changes,
        callback_url=callback_url,
        received=time.time(),
        creates=endpoint == "UpsertCustomer",
    )
    state.writes.append(write)
    call.entry.request_id = write.request_id
    task = asyncio.create_task(_settle(state, write, state.faults.callback_delay_ms / 1000))
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)
    return JSONResponse({"requestId": write.request_id})


async def _settle(state: SandboxState, write: AcceptedWrite, delay_s: float) -> None:
    await asyncio.sleep(delay_s)
    write.result = _apply(state, write)
    write.applied = time.time()
    write.changes = []  # applied: no need to hold a 1,000-customer batch any longer
    if write.callback_url is not None:
        await _call_back(state, write.request_id, write.callback_url, write.result)
    write.settled = time.time()


def _apply(state: SandboxState, write: AcceptedWrite) -> dict[str, Any]:
    """Apply what is valid, report the rest, as Optimove's callback body."""
    errors: list[dict[str, str]] = []

    def report(error: str, customer_id: str, change: AttributeChange) -> None:
        errors.append(
            {"error": error, "customerId": customer_id, "realFieldName": change.real_field_name}
        )

    for customer_changes in write.changes:
        customer_id = customer_changes.customer_id
        customer = state.customers.get(customer_id)
        if customer is None and write.creates:
            customer = state.customers[customer_id] = {}
        for change in customer_changes.attributes:
            definition = state.attributes.get(change.real_field_name)
            if customer is None:
                report("INVALID_CUSTOMER", customer_id, change)
            elif definition is None:
                report("INVALID_FIELD", customer_id, change)
            elif not value_fits(definition.field_type, change.value):
                report("INVALID_VALUE", customer_id, change)
            else:
                customer[change.real_field_name] = change.value
    if errors:
        return {"isSuccess": False, "errors": errors, "requestId": write.request_id}
    return {"isSuccess": True, "requestId": write.request_id}


async def _call_back(state: SandboxState, request_id: str, url: str, body: dict[str, Any]) -> None:
    sent = SentCallback(request_id=request_id, url=url, body=body, time=time.time())
    state.callbacks.append(sent)
    if state.callback_random.random() < state.faults.callback_drop_rate:
        sent.dropped = True
        return
    try:
        async with httpx.AsyncClient(
            transport=state.callback_transport, timeout=CALLBACK_TIMEOUT_S
        ) as client:
            response = await client.post(url, json=body)
        sent.status = response.status_code
    except Exception as exc:  # whatever the receiver does, the sandbox carries on
        sent.error = f"{type(exc).__name__}: {exc}"


_ENDPOINTS: tuple[_Endpoint, ...] = (
    _Endpoint(("model", "getcustomerattributelist"), "GET", _get_attribute_list),
    _Endpoint(("customers", None, "attributes"), "GET", _get_customer_attributes),
    _Endpoint(("customers", "updatecustomerattributes"), "POST", _update_customer_attributes),
    _Endpoint(("customers", "upsertcustomer"), "PUT", _upsert_customer, is_upsert=True),
    _Endpoint(("general", "getlastdataupdate"), "GET", _get_last_data_update),
)
