"""The base of both vendor clients: one private `_request()` that owns what every call needs.

Synchronous (`httpx.Client`): the services call the clients from sync endpoints and worker
threads. Every attempt takes its own slot from the shared limiter, is sent with explicit
timeouts and is reported (`CallRecord`); transient failures (timeouts, connection errors, 408,
429, 5xx) are retried with exponential backoff and full jitter (`Retry-After` honoured); a host
that resolves to a private address (`ssrf_guard.PrivateAddressRefused`) is refused at once; and
what is left is classified into the vendor's errors, in words an administrator can act on.

A subclass names its `Vendor` (its words and its error classes) and gives its base URL, its
limiter bucket, its auth headers and query parameters, and the secrets to redact from anything
the vendor says back. Secrets travel only in headers, never in a URL or a message.
"""

from __future__ import annotations

import math
import random
import socket
import ssl
import time
from collections.abc import Callable, Container, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Protocol, Self, TypedDict

import httpx

from optibridge.domain.budget import Slot, backoff
from optibridge.ssrf_guard import PrivateAddressRefused
from optibridge.vendor_http.bodies import Body, decode_body, trim
from optibridge.vendor_http.errors import (
    BadCredentialsError,
    InvalidRequestError,
    NotTheApiError,
    PrivateAddressError,
    TransientError,
    UnreachableError,
    VendorError,
)

USER_AGENT = "optibridge/0.1"
# Connecting should be quick; a slow connect means the host is wrong or down.
MAX_CONNECT_TIMEOUT_S = 5.0
# Longest we honour a Retry-After; beyond it, failing and retrying later is better.
MAX_RETRY_AFTER_S = 60.0


class SlotLimiter(Protocol):
    """What a client needs from a rate limiter (the store's `RateLimiter`, shared by every
    process)."""

    def take_slot(self, bucket: str) -> Slot: ...

    def answered(self, slot: Slot) -> None: ...

    def record_throttled(self, bucket: str) -> None: ...


@dataclass(frozen=True)
class CallRecord:
    """One attempt, for metrics and the sync log. `status` is None when nothing answered."""

    endpoint: str
    attempt: int
    status: int | None
    limiter_wait_s: float
    duration_s: float
    sent_at: float | None = None  # when it was sent (seconds since the epoch)
    lane: str | None = None  # the budget's lane its slot was taken in (`Slot.priority`)


# The attempts of the calls made in the current context, one list per open
# `recording_attempts` block.
_attempts: ContextVar[tuple[list[CallRecord], ...]] = ContextVar("vendor_attempts", default=())


@contextmanager
def recording_attempts() -> Iterator[list[CallRecord]]:
    """Every attempt of the calls made inside the block (a 429 retried, a timeout, the answer),
    in order: what a caller writes down beside the work it did (a sync record's calls).

    Blocks nest: an enclosing block sees the attempts of the blocks inside it too, so a caller
    can still write down the attempts of a call that raised inside a helper's own block."""
    attempts: list[CallRecord] = []
    token = _attempts.set((*_attempts.get(), attempts))
    try:
        yield attempts
    finally:
        _attempts.reset(token)


@dataclass(frozen=True)
class Vendor:
    """One vendor as its client speaks of it: the words of its messages, its error classes."""

    # Starts sentences: "Optimove kept answering 429 (too many requests) to …".
    name: str
    # What a base URL that answers otherwise is not: "an Optimove API".
    api: str
    # The setting an administrator typed, as messages name it: "the Base URL".
    base_url_setting: str
    example_base_url: str
    # What a 401 or 403 refused, and what to check then.
    credentials: str
    credentials_advice: str
    # The server's own explanation of an error, read with the vendor's JSON casing.
    error_message: Callable[[Body], str]
    bad_credentials: type[BadCredentialsError]
    not_the_api: type[NotTheApiError]
    private_address: type[PrivateAddressError]
    unreachable: type[UnreachableError]
    invalid_request: type[InvalidRequestError]
    transient: type[TransientError]


class ClientOptions(TypedDict, total=False):
    """The keyword arguments every vendor client takes besides its own (see `VendorClient`)."""

    timeout_s: float
    http: httpx.Client | None
    sleep: Callable[[float], None]
    jitter: Callable[[], float]
    backoff_base_s: float
    backoff_max_s: float
    max_retry_after_s: float
    on_call: Callable[[CallRecord], None] | None


@dataclass(frozen=True)
class _Failure:
    """A transient failure of one attempt, remembered in case it was the last."""

    message: str
    status: int | None = None
    timed_out: bool = False
    unreachable: bool = False
    retry_after_s: float | None = None
    # The vendor may have acted on the request (it reached it and no refusal came back).
    may_have_acted: bool = True


class VendorClient:
    """Calls one vendor account through `_request()`. Thread-safe; share one per account."""

    vendor: ClassVar[Vendor]

    def __init__(
        self,
        base_url: str,
        *,
        bucket: str,
        auth_headers: Mapping[str, str],
        redact: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        limiter: SlotLimiter,
        max_attempts: int,
        timeout_s: float = 10.0,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        max_retry_after_s: float = MAX_RETRY_AFTER_S,
        on_call: Callable[[CallRecord], None] | None = None,
    ) -> None:
        """`base_url` is already checked, with one trailing slash; `redact` maps each secret to
        the label that replaces it in quoted answers; a `Retry-After` is honoured up to
        `max_retry_after_s` (less for a client someone is waiting on)."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._base_url = base_url
        self._bucket = bucket
        self._headers = {**auth_headers, "Accept": "application/json", "User-Agent": USER_AGENT}
        self._redact = dict(redact)
        self._params = dict(params) if params is not None else None
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
        self._max_retry_after_s = max_retry_after_s
        self._on_call = on_call

    @property
    def bucket(self) -> str:
        """The limiter bucket this client's calls count against."""
        return self._bucket

    def close(self) -> None:
        """Close the HTTP connection pool if this client created it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- one request, with limits and retries ------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        query: Mapping[str, str | list[str]] | None = None,
        accept: Container[int] = (),
        idempotent: bool = True,
        redact: Mapping[str, str] | None = None,
        bucket: str | None = None,
    ) -> httpx.Response:
        """A 2xx response, or one with a status in `accept`; anything else raises.

        Every attempt waits for its own slot in the shared window. `endpoint` names the call in
        records and messages, e.g. `GET contact/fields`. `form` is sent as
        `application/x-www-form-urlencoded` (OAuth's token endpoint), `json` as JSON; `query` adds
        query parameters to the client's own (a list repeats the name). A request
        that is not `idempotent` (one that creates something) is sent again only when the vendor
        surely did not act on it: the connection failed, or it answered 429. `redact` maps
        further secrets of this call (e.g. a URL it sends) to their labels, for anything the
        vendor says back. `bucket`: the limiter bucket of this call, when its endpoint has a
        limit of its own (else the client's).
        """
        bucket = bucket or self._bucket
        url = self._base_url + path
        params: dict[str, str | list[str]] = dict(self._params or {})
        params.update(query or {})
        failure: _Failure | None = None
        tried = 0
        for attempt in range(1, self._max_attempts + 1):
            if failure is not None:
                if failure.may_have_acted and not idempotent:
                    break  # sending it again could do it twice
                self._sleep(self._backoff(attempt - 1, failure.retry_after_s))
            tried = attempt
            slot = self._limiter.take_slot(bucket)
            started = time.monotonic()
            try:
                response = self._http.request(
                    method,
                    url,
                    params=params or None,
                    json=json,
                    data=form,
                    headers=self._headers,
                    timeout=self._timeout,
                )
            except PrivateAddressRefused as refused:
                self._record(endpoint, attempt, None, slot, started)
                raise self._private_address(endpoint, refused) from None
            except httpx.ConnectTimeout:
                self._record(endpoint, attempt, None, slot, started)
                failure = _Failure("connecting timed out", unreachable=True, may_have_acted=False)
                continue
            except httpx.TimeoutException:
                self._record(endpoint, attempt, None, slot, started)
                failure = _Failure("did not answer in time", timed_out=True)
                continue
            except httpx.TransportError as exc:
                self._record(endpoint, attempt, None, slot, started)
                reason, permanent = _transport_reason(exc, self.vendor.base_url_setting)
                if permanent:
                    raise self._unreachable(endpoint, reason) from None
                failure = _Failure(
                    reason,
                    unreachable=True,
                    may_have_acted=not isinstance(exc, httpx.ConnectError),
                )
                continue
            finally:
                # Answered or not, the vendor has counted the call by now (or never will).
                self._limiter.answered(slot)
            self._record(endpoint, attempt, response.status_code, slot, started)
            status = response.status_code
            if 200 <= status < 300 or status in accept:
                return response
            if status == 429:
                self._limiter.record_throttled(bucket)
            if status in (408, 429) or status >= 500:
                failure = _Failure(
                    f"answered HTTP {status}",
                    status=status,
                    retry_after_s=_retry_after_s(response.headers.get("retry-after")),
                    may_have_acted=status != 429,
                )
                continue
            raise self._classified(endpoint, response, redact)
        assert failure is not None
        raise self._gave_up(endpoint, failure, tried)

    def _backoff(self, failures: int, retry_after_s: float | None) -> float:
        """Full jitter: uniform in [0, min(max, base·2^(failures-1))]; Retry-After wins."""
        if retry_after_s is not None:
            return min(retry_after_s, self._max_retry_after_s)
        return backoff(failures, self._backoff_base_s, self._backoff_max_s, self._jitter())

    def _record(
        self, endpoint: str, attempt: int, status: int | None, slot: Slot, started: float
    ) -> None:
        took = time.monotonic() - started
        record = CallRecord(
            endpoint, attempt, status, slot.waited_s, took, time.time() - took, slot.priority
        )
        if self._on_call is not None:
            self._on_call(record)
        for recorded in _attempts.get():
            recorded.append(record)

    # --- errors ------------------------------------------------------------------------

    def _classified(
        self, endpoint: str, response: httpx.Response, redact: Mapping[str, str] | None = None
    ) -> VendorError:
        """What a non-retryable answer means: refused credentials, not the API, or refused."""
        status = response.status_code
        body = decode_body(response.content, response.headers.get("content-type"))
        if status in (401, 403):
            vendor = self.vendor
            return vendor.bad_credentials(
                f"{vendor.name} refused {vendor.credentials} (HTTP {status} on {endpoint})"
                f"{self._quoted(body, redact)}. {vendor.credentials_advice}",
                upstream_status=status,
                endpoint=endpoint,
            )
        if status == 404:
            return self._not_an_api(endpoint, "answered 404 (no such endpoint)", status)
        if 300 <= status < 400:
            location = trim(response.headers.get("location", "?"), 120)
            return self._not_an_api(endpoint, f"answered a redirect to {location}", status)
        if 400 <= status < 500:
            return self._invalid_request(endpoint, status, body, redact)
        return self._not_an_api(endpoint, f"answered HTTP {status}", status)

    def _invalid_request(
        self, endpoint: str, status: int, body: Body, redact: Mapping[str, str] | None = None
    ) -> InvalidRequestError:
        return self.vendor.invalid_request(
            f"{self.vendor.name} rejected {endpoint} (HTTP {status}){self._quoted(body, redact)}.",
            upstream_status=status,
            endpoint=endpoint,
        )

    def _not_an_api(self, endpoint: str, what: str, status: int | None) -> NotTheApiError:
        setting = self.vendor.base_url_setting
        return self.vendor.not_the_api(
            f"{setting[:1].upper()}{setting[1:]} does not look like {self.vendor.api}: "
            f"{endpoint} {what}. Check {setting} (e.g. {self.vendor.example_base_url}).",
            upstream_status=status,
            endpoint=endpoint,
        )

    def _private_address(
        self, endpoint: str, refused: PrivateAddressRefused
    ) -> PrivateAddressError:
        return self.vendor.private_address(
            f"The {self.vendor.name} host {refused.host} resolves to a private address "
            f"({refused.address}), so it was not called ({endpoint}). Set "
            "OPTIBRIDGE_ALLOW_PRIVATE_URLS=1 only for sandboxes and local development.",
            endpoint=endpoint,
        )

    def _unreachable(self, endpoint: str, reason: str) -> UnreachableError:
        return self.vendor.unreachable(
            f"Could not reach {host_of(self._base_url)} ({endpoint}): {reason}.",
            endpoint=endpoint,
        )

    def _gave_up(self, endpoint: str, failure: _Failure, tried: int) -> VendorError:
        attempts = f"after {tried} attempt{'s' if tried > 1 else ''}"
        if failure.unreachable:
            return self._unreachable(endpoint, f"{failure.message} ({attempts})")
        name = self.vendor.name
        if failure.status == 429:
            message = f"{name} kept answering 429 (too many requests) to {endpoint} {attempts}."
        else:
            message = f"{name} {failure.message} to {endpoint} {attempts}."
        return self.vendor.transient(
            message,
            upstream_status=failure.status,
            endpoint=endpoint,
            http_status=504 if failure.timed_out else 502,
        )

    def _quoted(self, body: Body, redact: Mapping[str, str] | None = None) -> str:
        """': <what the server said>' with the secrets redacted, or '' when it said nothing.

        The call's own secrets (`redact`) go first: a URL is replaced before a token inside it.
        """
        message = self.vendor.error_message(body)
        for secret, label in [*(redact or {}).items(), *self._redact.items()]:
            if secret:
                message = message.replace(secret, label)
        # Callers end the sentence themselves.
        message = message.rstrip(" .")
        return f": {message}" if message else ""


def url_prefix(base_url: str, *, query_allowed: bool = True) -> str | None:
    """An administrator's base URL as a prefix: kept as typed, with exactly one trailing slash;
    None when it is not an http(s) address with a host."""
    stripped = base_url.strip()
    try:
        url = httpx.URL(stripped)
    except httpx.InvalidURL:
        return None
    if url.scheme not in ("http", "https") or not url.host or (url.query and not query_allowed):
        return None
    return stripped.rstrip("/") + "/"


def checked_api_key(api_key: str, vendor: Vendor) -> str:
    """The key without the blanks pasted around it; refused when it cannot be a key."""
    key = api_key.strip()
    if not key:
        raise vendor.bad_credentials(f"No {vendor.name} API key is set.")
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        raise vendor.bad_credentials(
            f"The {vendor.name} API key contains characters an API key cannot have "
            "(spaces or non-ASCII characters)."
        )
    return key


def host_of(base_url: str) -> str:
    """The host of a URL, with its port when it names one."""
    url = httpx.URL(base_url)
    return url.host if url.port is None else f"{url.host}:{url.port}"


def _transport_reason(exc: httpx.TransportError, base_url_setting: str) -> tuple[str, bool]:
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
    said = " ".join(str(c) for c in causes).lower()
    if "temporary failure in name resolution" in said:
        return "its name could not be resolved (temporary DNS failure)", False
    if any(s in said for s in ("name or service not known", "nodename nor servname")):
        return "the host name does not resolve", True
    if "certificate" in said or "ssl" in said or "tls" in said:
        return "the TLS handshake failed", True
    if isinstance(exc, httpx.UnsupportedProtocol):
        return f"{base_url_setting} must start with https://", True
    if "refused" in said:
        return "the connection was refused", False
    if isinstance(exc, httpx.ConnectError):
        return "the connection failed", False
    return "the connection broke before an answer came", False


def _retry_after_s(value: str | None) -> float | None:
    """Retry-After as seconds (it may be a number or an HTTP date); None when unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return None if math.isnan(seconds) else max(0.0, seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
