"""The Optimove API client: typed results, classified errors, retries within the rate limit.

Synchronous (`httpx.Client`): the service calls it from sync endpoints and worker threads.
One private `_request()` owns what every call needs: a slot from the shared limiter for every
attempt, explicit timeouts, retries with exponential backoff and full jitter on transient
failures (timeouts, connection errors, 408, 429, 5xx; `Retry-After` honoured), and the
classification of what is left into `optibridge.optimove.errors`.

The API key travels only in the `X-API-KEY` header. It is never put in a URL or a message, and
anything Optimove says back is redacted before it is quoted.
"""

from __future__ import annotations

import random
import socket
import ssl
import time
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx

from optibridge.optimove.errors import (
    BadCredentialsError,
    InvalidRequestError,
    NotOptimoveApiError,
    OptimoveError,
    PrivateAddressError,
    TransientError,
    UnreachableError,
    UpsertUnavailableError,
)
from optibridge.optimove.limiter import bucket_for_api_key
from optibridge.optimove.schemas import (
    AttributeInfo,
    Body,
    CustomerAttributes,
    CustomerUpdate,
    ShapeError,
    WriteAccepted,
    decode_body,
    error_message,
    parse_attribute_list,
    parse_customer_attributes,
    parse_last_data_update,
    parse_request_id,
    trim,
    update_attributes_body,
    upsert_customer_body,
)
from optibridge.ssrf_guard import PrivateAddressRefused

ATTRIBUTE_LIST = "model/GetCustomerAttributeList"
CUSTOMER_ATTRIBUTES = "Customers/{customer_id}/Attributes"
UPDATE_ATTRIBUTES = "Customers/UpdateCustomerAttributes"
UPSERT_CUSTOMER = "Customers/UpsertCustomer"
LAST_DATA_UPDATE = "general/GetLastDataUpdate"

USER_AGENT = "optibridge/0.1"
# Connecting should be quick; a slow connect means the host is wrong or down.
MAX_CONNECT_TIMEOUT_S = 5.0
# Longest we honour a Retry-After; beyond it, failing and retrying later is better.
MAX_RETRY_AFTER_S = 60.0
T = TypeVar("T")


class SlotLimiter(Protocol):
    """What the client needs from a rate limiter (see `optimove.limiter.RateLimiter`)."""

    def acquire(self, bucket: str) -> float: ...

    def record_throttled(self, bucket: str) -> None: ...


@dataclass(frozen=True)
class CallRecord:
    """One attempt, for metrics and the sync log. `status` is None when nothing answered."""

    endpoint: str
    attempt: int
    status: int | None
    limiter_wait_s: float
    duration_s: float


@dataclass(frozen=True)
class _Failure:
    """A transient failure of one attempt, remembered in case it was the last."""

    message: str
    status: int | None = None
    timed_out: bool = False
    unreachable: bool = False
    retry_after_s: float | None = None


class OptimoveClient:
    """Calls one Optimove account. Thread-safe; share one per (Base URL, API key)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        limiter: SlotLimiter,
        timeout_s: float = 10.0,
        max_attempts: int = 5,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        on_call: Callable[[CallRecord], None] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._base_url = _checked_base_url(base_url)
        self._api_key = _checked_api_key(api_key)
        self._bucket = bucket_for_api_key(self._api_key)
        self._limiter = limiter
        self._timeout = httpx.Timeout(
            timeout_s, connect=min(timeout_s, MAX_CONNECT_TIMEOUT_S), pool=timeout_s
        )
        self._max_attempts = max_attempts
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(follow_redirects=False)
        self._sleep = sleep
        self._jitter = jitter
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._on_call = on_call

    def close(self) -> None:
        """Close the HTTP connection pool if this client created it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> OptimoveClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- the API ----------------------------------------------------------------------

    def get_attribute_list(self) -> list[AttributeInfo]:
        """Every attribute of the account."""
        endpoint = f"GET {ATTRIBUTE_LIST}"
        response = self._request("GET", ATTRIBUTE_LIST, endpoint)
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
        response = self._request("GET", path, endpoint, accept={400, 404})
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
        response = self._request("POST", UPDATE_ATTRIBUTES, endpoint, json=body)
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
        response = self._request("PUT", UPSERT_CUSTOMER, endpoint, json=body, accept={404, 405})
        if response.status_code in (404, 405):
            raise UpsertUnavailableError(
                "This Optimove account does not offer UpsertCustomer "
                f"(HTTP {response.status_code} on {endpoint}); Optimove is still rolling it out, "
                "ask Optimove to enable it.",
                upstream_status=response.status_code,
                endpoint=endpoint,
            )
        return self._accepted(endpoint, response)

    def get_last_data_update(self) -> date | None:
        """The date of the account's last data update, if Optimove gives one."""
        endpoint = f"GET {LAST_DATA_UPDATE}"
        response = self._request("GET", LAST_DATA_UPDATE, endpoint)
        return self._parsed(endpoint, response, parse_last_data_update)

    # --- one request, with limits and retries ------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        json: Any = None,
        accept: Container[int] = (),
    ) -> httpx.Response:
        """A 2xx response, or one with a status in `accept`; anything else raises.

        Every attempt waits for its own slot in the shared window. Writes are retried like
        reads: Optimove's writes overwrite values, so one applied twice does no harm.
        """
        url = self._base_url + path
        headers = {
            "X-API-KEY": self._api_key,
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        failure: _Failure | None = None
        for attempt in range(1, self._max_attempts + 1):
            if failure is not None:
                self._sleep(self._backoff(attempt - 1, failure.retry_after_s))
            waited = self._limiter.acquire(self._bucket)
            started = time.monotonic()
            try:
                response = self._http.request(
                    method,
                    url,
                    json=json,
                    headers=headers,
                    timeout=self._timeout,
                )
            except PrivateAddressRefused as refused:
                self._record(endpoint, attempt, None, waited, started)
                raise self._private_address(endpoint, refused) from None
            except httpx.ConnectTimeout:
                self._record(endpoint, attempt, None, waited, started)
                failure = _Failure("connecting timed out", unreachable=True)
                continue
            except httpx.TimeoutException:
                self._record(endpoint, attempt, None, waited, started)
                failure = _Failure("did not answer in time", timed_out=True)
                continue
            except httpx.TransportError as exc:
                self._record(endpoint, attempt, None, waited, started)
                reason, permanent = _transport_reason(exc)
                if permanent:
                    raise self._unreachable(endpoint, reason) from None
                failure = _Failure(reason, unreachable=True)
                continue
            self._record(endpoint, attempt, response.status_code, waited, started)
            status = response.status_code
            if 200 <= status < 300 or status in accept:
                return response
            if status == 429:
                self._limiter.record_throttled(self._bucket)
            if status in (408, 429) or status >= 500:
                failure = _Failure(
                    f"answered HTTP {status}",
                    status=status,
                    retry_after_s=_retry_after_s(response.headers.get("retry-after")),
                )
                continue
            raise self._classified(endpoint, response)
        assert failure is not None
        raise self._gave_up(endpoint, failure)

    def _backoff(self, failures: int, retry_after_s: float | None) -> float:
        """Full jitter: uniform in [0, min(max, base·2^(failures-1))]; Retry-After wins."""
        if retry_after_s is not None:
            return min(retry_after_s, MAX_RETRY_AFTER_S)
        ceiling = min(self._backoff_max_s, self._backoff_base_s * 2.0 ** (failures - 1))
        return self._jitter() * ceiling

    def _record(
        self, endpoint: str, attempt: int, status: int | None, waited: float, started: float
    ) -> None:
        if self._on_call is not None:
            duration = time.monotonic() - started
            self._on_call(CallRecord(endpoint, attempt, status, waited, duration))

    # --- reading answers ------------------------------------------------------------------

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

    # --- errors ------------------------------------------------------------------------

    def _classified(self, endpoint: str, response: httpx.Response) -> OptimoveError:
        status = response.status_code
        body = decode_body(response.content, response.headers.get("content-type"))
        if status in (401, 403):
            said = self._quoted(body)
            return BadCredentialsError(
                f"Optimove refused the API key (HTTP {status} on {endpoint}){said}. "
                "Check the key, and that its access type allows this call.",
                upstream_status=status,
                endpoint=endpoint,
            )
        if status == 404:
            return self._not_an_api(endpoint, "answered 404 (no such endpoint)", status)
        if 300 <= status < 400:
            location = trim(response.headers.get("location", "?"), 120)
            return self._not_an_api(endpoint, f"answered a redirect to {location}", status)
        if 400 <= status < 500:
            return self._invalid_request(endpoint, status, body)
        return self._not_an_api(endpoint, f"answered HTTP {status}", status)

    def _invalid_request(self, endpoint: str, status: int, body: Body) -> InvalidRequestError:
        return InvalidRequestError(
            f"Optimove rejected {endpoint} (HTTP {status}){self._quoted(body)}.",
            upstream_status=status,
            endpoint=endpoint,
        )

    def _not_an_api(self, endpoint: str, what: str, status: int | None) -> NotOptimoveApiError:
        return NotOptimoveApiError(
            f"The Base URL does not look like an Optimove API: {endpoint} {what}. "
            "Check the Base URL (e.g. https://api4.optimove.net/current/).",
            upstream_status=status,
            endpoint=endpoint,
        )

    def _private_address(
        self, endpoint: str, refused: PrivateAddressRefused
    ) -> PrivateAddressError:
        return PrivateAddressError(
            f"The Optimove host {refused.host} resolves to a private address "
            f"({refused.address}), so it was not called ({endpoint}). Set "
            "OPTIBRIDGE_ALLOW_PRIVATE_URLS=1 only for sandboxes and local development.",
            endpoint=endpoint,
        )

    def _unreachable(self, endpoint: str, reason: str) -> UnreachableError:
        return UnreachableError(
            f"Could not reach {_host(self._base_url)} ({endpoint}): {reason}.",
            endpoint=endpoint,
        )

    def _gave_up(self, endpoint: str, failure: _Failure) -> OptimoveError:
        attempts = f"after {self._max_attempts} attempt{'s' if self._max_attempts > 1 else ''}"
        if failure.unreachable:
            return self._unreachable(endpoint, f"{failure.message} ({attempts})")
        if failure.status == 429:
            message = f"Optimove kept answering 429 (too many requests) to {endpoint} {attempts}."
        else:
            message = f"Optimove {failure.message} to {endpoint} {attempts}."
        return TransientError(
            message,
            upstream_status=failure.status,
            endpoint=endpoint,
            http_status=504 if failure.timed_out else 502,
        )

    def _quoted(self, body: Body) -> str:
        """': <what the server said>' with the key redacted, or '' when it said nothing."""
        message = error_message(body)
        if self._api_key in message:
            message = message.replace(self._api_key, "[API key]")
        # Callers end the sentence themselves.
        message = message.rstrip(" .")
        return f": {message}" if message else ""


def _checked_base_url(base_url: str) -> str:
    """The admin's Base URL as a prefix: kept as typed, with exactly one trailing slash."""
    stripped = base_url.strip()
    try:
        url = httpx.URL(stripped)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise NotOptimoveApiError(
            "The Base URL must be a web address starting with https:// "
            "(e.g. https://api4.optimove.net/current/)."
        )
    return stripped.rstrip("/") + "/"


def _checked_api_key(api_key: str) -> str:
    key = api_key.strip()
    if not key:
        raise BadCredentialsError("No Optimove API key is set.")
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        raise BadCredentialsError(
            "The Optimove API key contains characters an API key cannot have "
            "(spaces or non-ASCII characters)."
        )
    return key


def _host(base_url: str) -> str:
    url = httpx.URL(base_url)
    return url.host if url.port is None else f"{url.host}:{url.port}"


def _transport_reason(exc: httpx.TransportError) -> tuple[str, bool]:
    """Why no answer came, in words, and whether retrying cannot help (DNS, TLS)."""
    causes: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(causes) < 10:
        causes.append(current)
        current = current.__cause__ or current.__context__
    for cause in causes:
        if isinstance(cause, socket.gaierror):
            if cause.errno == socket.EAI_AGAIN:
                return "its name could not be resolved (temporary DNS failure)", False
            return "the host name does not resolve", True
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"its TLS certificate is not valid ({cause.verify_message})", True
        if isinstance(cause, ssl.SSLError):
            return f"the TLS handshake failed ({cause.reason or 'SSL error'})", True
    text = " ".join(str(c) for c in causes).lower()
    if "temporary failure in name resolution" in text:
        return "its name could not be resolved (temporary DNS failure)", False
    if any(s in text for s in ("name or service not known", "nodename nor servname")):
        return "the host name does not resolve", True
    if "certificate" in text or "ssl" in text or "tls" in text:
        return "the TLS handshake failed", True
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "the Base URL must start with https://", True
    if "refused" in text:
        return "the connection was refused", False
    if isinstance(exc, httpx.ConnectError):
        return "the connection failed", False
    return "the connection broke before an answer came", False


def _retry_after_s(value: str | None) -> float | None:
    """Retry-After as seconds (it may be a number or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
