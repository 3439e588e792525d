"""The Optimove API client: typed results, classified errors, retries within the rate limit.

Synchronous, like the Comm100 client; both are `optibridge.vendor_http.client.VendorClient`s,
whose one private `_request()` owns the limiter slot of every attempt, timeouts, retries with
backoff and jitter, and the classification of failures into `optibridge.optimove.errors`. This
module adds what is Optimove's: the `X-API-KEY` header, the limiter bucket per key, its calls
and reading their answers. Writes are retried like reads: Optimove's writes overwrite values,
so one applied twice does no harm.

The API key travels only in the `X-API-KEY` header. It is never put in a URL or a message, and
anything Optimove says back is redacted before it is quoted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date
from typing import TypeVar, Unpack
from urllib.parse import quote

import httpx

from optibridge.domain.attributes import AttributeInfo
from optibridge.domain.budget import GROUP_MARK
from optibridge.optimove.errors import (
    BadCredentialsError,
    InvalidRequestError,
    NotOptimoveApiError,
    PrivateAddressError,
    TransientError,
    UnreachableError,
    UpsertUnavailableError,
)
from optibridge.optimove.schemas import (
    CustomerAttributes,
    CustomerUpdate,
    ShapeError,
    WriteAccepted,
    error_message,
    parse_attribute_list,
    parse_customer_attributes,
    parse_last_data_update,
    parse_request_id,
    parse_write_errors,
    update_attributes_body,
    upsert_customer_body,
)
from optibridge.vendor_http.bodies import Body, decode_body
from optibridge.vendor_http.client import CallRecord as CallRecord  # re-exported
from optibridge.vendor_http.client import (
    ClientOptions,
    SlotLimiter,
    Vendor,
    VendorClient,
    checked_api_key,
    url_prefix,
)

ATTRIBUTE_LIST = "model/GetCustomerAttributeList"
CUSTOMER_ATTRIBUTES = "Customers/{customer_id}/Attributes"
UPDATE_ATTRIBUTES = "Customers/UpdateCustomerAttributes"
UPSERT_CUSTOMER = "Customers/UpsertCustomer"
LAST_DATA_UPDATE = "general/GetLastDataUpdate"

T = TypeVar("T")

OPTIMOVE = Vendor(
    name="Optimove",
    api="an Optimove API",
    base_url_setting="the Base URL",
    example_base_url="https://api4.optimove.net/current/",
    credentials="the API key",
    credentials_advice="Check the key, and that its access type allows this call.",
    error_message=error_message,
    bad_credentials=BadCredentialsError,
    not_the_api=NotOptimoveApiError,
    private_address=PrivateAddressError,
    unreachable=UnreachableError,
    invalid_request=InvalidRequestError,
    transient=TransientError,
)


def bucket_for_api_key(api_key: str) -> str:
    """The bucket id of a key: a digest, so the key itself is never stored."""
    digest = hashlib.sha256(api_key.strip().encode("utf-8")).hexdigest()
    return f"optimove:{digest[:32]}"


class OptimoveClient(VendorClient):
    """Calls one Optimove account. Thread-safe; share one per (Base URL, API key).

    Besides its own arguments it takes `ClientOptions`: timeout_s, http, sleep, jitter,
    backoff_base_s, backoff_max_s, max_retry_after_s, on_call.
    """

    vendor = OPTIMOVE

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        limiter: SlotLimiter,
        max_attempts: int = 5,
        own_groups: Collection[str] = (),
        **options: Unpack[ClientOptions],
    ) -> None:
        """`own_groups`: the endpoint groups (`domain.budget.ENDPOINT_GROUPS`) with a limit of
        their own; their calls count in a bucket of their own."""
        checked_url = _checked_base_url(base_url)
        key = checked_api_key(api_key, OPTIMOVE)
        self._own_groups = frozenset(own_groups)
        super().__init__(
            checked_url,
            bucket=bucket_for_api_key(key),
            auth_headers={"X-API-KEY": key},
            redact={key: "[API key]"},
            limiter=limiter,
            max_attempts=max_attempts,
            **options,
        )

    # --- the API ----------------------------------------------------------------------

    def get_attribute_list(self) -> list[AttributeInfo]:
        """Every attribute of the account."""
        endpoint = f"GET {ATTRIBUTE_LIST}"
        response = self._request("GET", ATTRIBUTE_LIST, endpoint, bucket=self._group("attributes"))
        return self._parsed(endpoint, response, parse_attribute_list)

    def check_connection(self) -> int:
        """The *Test connection* call: the number of attributes, or a classified error."""
        return len(self.get_attribute_list())

    def get_customer_attributes(self, customer_id: str) -> CustomerAttributes | None:
        """A customer's attributes, or None when Optimove does not know the customer."""
        if not customer_id:
            raise ValueError("a customer id cannot be empty")
        path = CUSTOMER_ATTRIBUTES.format(customer_id=quote(customer_id, safe=""))
        endpoint = f"GET {CUSTOMER_ATTRIBUTES}"
        response = self._request(
            "GET", path, endpoint, accept={400, 404}, bucket=self._group("reads")
        )
        status = response.status_code
        if status in (400, 404):
            body = decode_body(response.content, response.headers.get("content-type"))
            # Accounts say "no such customer" differently (404, or a 400 naming the customer);
            # but an HTML 404 comes from a web server that is not an API at all.
            if status == 404 and body.kind == "html":
                raise self._not_an_api(endpoint, "answered 404 with an HTML page", status)
            if status == 400 and "customer" not in error_message(body).lower():
                raise self._invalid_request(endpoint, status, body)
            return None
        return self._parsed(endpoint, response, lambda b: parse_customer_attributes(customer_id, b))

    def update_customer_attributes(
        self, updates: Sequence[CustomerUpdate], callback_url: str | None
    ) -> WriteAccepted:
        """Overwrite attributes of existing customers (≤ 1,000 customers, ≤ 10 attributes each).

        Optimove applies the update later and POSTs the outcome to `callback_url`, tagged with
        the returned request id. Unknown customers are reported there, never created.
        """
        body = update_attributes_body(updates, callback_url)
        endpoint = f"POST {UPDATE_ATTRIBUTES}"
        response = self._request(
            "POST", UPDATE_ATTRIBUTES, endpoint, json=body, bucket=self._group("writes")
        )
        return self._accepted(endpoint, response)

    def upsert_customer(
        self,
        customer_id: str,
        attributes: Mapping[str, str | None],
        callback_url: str | None,
    ) -> WriteAccepted:
        """Create the customer, or update it; not every account offers this call yet."""
        body = upsert_customer_body(customer_id, attributes, callback_url)
        endpoint = f"PUT {UPSERT_CUSTOMER}"
        response = self._request(
            "PUT",
            UPSERT_CUSTOMER,
            endpoint,
            json=body,
            accept={404, 405},
            bucket=self._group("writes"),
        )
        if response.status_code in (404, 405):
            raise UpsertUnavailableError(
                "This Optimove account does not offer UpsertCustomer "
                f"(HTTP {response.status_code} on {endpoint}); Optimove is still rolling it out, "
                "ask Optimove to enable it.",
                upstream_status=response.status_code,
                endpoint=endpoint,
            )
        answer = decode_body(response.content, response.headers.get("content-type"))
        refused = parse_write_errors(answer)
        if refused:
            raise InvalidRequestError(
                f"Optimove refused customer {customer_id} in its answer: {'; '.join(refused)}.",
                upstream_status=response.status_code,
                endpoint=endpoint,
            )
        return self._accepted(endpoint, response)

    def get_last_data_update(self) -> date | None:
        """The date of the account's last data update, if Optimove gives one."""
        endpoint = f"GET {LAST_DATA_UPDATE}"
        response = self._request(
            "GET", LAST_DATA_UPDATE, endpoint, bucket=self._group("attributes")
        )
        return self._parsed(endpoint, response, parse_last_data_update)

    # --- reading answers ------------------------------------------------------------------

    def _group(self, group: str) -> str | None:
        """The bucket of an endpoint group with a limit of its own (None: the key's)."""
        return f"{self.bucket}{GROUP_MARK}{group}" if group in self._own_groups else None

    def _parsed(self, endpoint: str, response: httpx.Response, parse: Callable[[Body], T]) -> T:
        body = decode_body(response.content, response.headers.get("content-type"))
        try:
            return parse(body)
        except ShapeError as exc:
            raise self._not_an_api(endpoint, str(exc), response.status_code) from None

    def _accepted(self, endpoint: str, response: httpx.Response) -> WriteAccepted:
        body = decode_body(response.content, response.headers.get("content-type"))
        if body.kind == "html":
            raise self._not_an_api(endpoint, "answered an HTML page", response.status_code)
        return WriteAccepted(request_id=parse_request_id(body))


def _checked_base_url(base_url: str) -> str:
    """The admin's Base URL as a prefix: kept as typed, with exactly one trailing slash."""
    prefix = url_prefix(base_url)
    if prefix is None:
        raise NotOptimoveApiError(
            "The Base URL must be a web address starting with https:// "
            "(e.g. https://api4.optimove.net/current/)."
        )
    return prefix
