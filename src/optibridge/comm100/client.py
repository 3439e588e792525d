"""The Comm100 v4 API client: contacts, form fields, tickets, within the rate limit.

Synchronous (`httpx.Client`), like the Optimove client: the service calls it from sync
endpoints and worker threads. One private `_request()` owns what every call needs: HTTP Basic
auth (the agent's e-mail and API key), the `siteId` query parameter, a slot from the shared
limiter for every attempt (Comm100 allows 300 calls per 5 minutes per IP, so the bucket is the
API host: every site on the same data centre shares it), explicit timeouts, retries with
exponential backoff and full jitter on transient failures (timeouts, connection errors, 408,
429, 5xx; `Retry-After` honoured), and the classification of what is left into
`optibridge.comm100.errors`.

The API key travels only in the `Authorization` header. It is never put in a URL or a message,
and anything Comm100 says back is redacted before it is quoted.
"""

from __future__ import annotations

import base64
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import quote

import httpx

from optibridge.comm100.errors import (
    BadCredentialsError,
    Comm100Error,
    InvalidRequestError,
    NotComm100ApiError,
    NotFoundError,
    PrivateAddressError,
    TransientError,
    UnreachableError,
)
from optibridge.comm100.schemas import (
    Body,
    Contact,
    ContactField,
    CustomVariable,
    FormField,
    RawContact,
    ShapeError,
    Ticket,
    decode_body,
    error_message,
    parse_contact,
    parse_contact_fields,
    parse_custom_variables,
    parse_form_fields,
    parse_identities,
    parse_ticket,
    trim,
)
from optibridge.comm100.webhooks import InboundEvent
from optibridge.domain.context import ConversationContext
from optibridge.ssrf_guard import PrivateAddressRefused

CONTACT = "contact/contacts/{contact_id}"
CONTACT_IDENTITIES = "contact/contacts/{contact_id}/contactIdentities"
CONTACT_FIELDS = "contact/fields"
PRECHAT_FIELDS = "livechat/preChatFormFields"
OFFLINE_FIELDS = "livechat/offlineMessageFormFields"
CUSTOM_VARIABLES = "livechat/customVariables"
TICKET = "ticketing/tickets/{ticket_id}"

# Comm100's documented limit: 300 calls per 5 minutes per IP. Build the shared `RateLimiter`
# for Comm100 with these (and a margin), and give it to every client.
RATE_LIMIT = 300
RATE_WINDOW_S = 300.0

USER_AGENT = "optibridge/0.1"
# Connecting should be quick; a slow connect means the host is wrong or down.
MAX_CONNECT_TIMEOUT_S = 5.0
# Longest we honour a Retry-After; beyond it, failing and retrying later is better.
MAX_RETRY_AFTER_S = 60.0
# Contact field ids change only when an administrator edits the fields.
FIELDS_TTL_S = 300.0
# A merged contact points at the one it became; that one may have been merged too.
MAX_MERGE_HOPS = 3
T = TypeVar("T")


class SlotLimiter(Protocol):
    """What the client needs from a rate limiter (`optibridge.optimove.limiter.RateLimiter`)."""

    def acquire(self, bucket: str) -> float: ...

    def record_throttled(self, bucket: str) -> None: ...


def bucket_for_api_base(api_base_url: str) -> str:
    """The limiter bucket of an API base URL: Comm100 counts calls per (our IP, its host)."""
    return f"comm100:{_host(_checked_base_url(api_base_url))}"


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


class Comm100Client:
    """Calls one Comm100 site as one agent. Thread-safe; share one per site."""

    def __init__(
        self,
        api_base_url: str,
        agent_email: str,
        api_key: str,
        site_id: int | str,
        *,
        limiter: SlotLimiter,
        timeout_s: float = 10.0,
        max_attempts: int = 4,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        fields_ttl_s: float = FIELDS_TTL_S,
        monotonic: Callable[[], float] = time.monotonic,
        on_call: Callable[[CallRecord], None] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._base_url = _checked_base_url(api_base_url)
        self._site_id = _checked_site_id(site_id)
        self._api_key = _checked_api_key(api_key)
        email = _checked_email(agent_email)
        self._credentials = base64.b64encode(f"{email}:{self._api_key}".encode()).decode("ascii")
        self._bucket = f"comm100:{_host(self._base_url)}"
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
        self._fields_ttl_s = fields_ttl_s
        self._monotonic = monotonic
        self._on_call = on_call
        self._fields_lock = threading.Lock()
        self._fields_cache: tuple[float, list[ContactField]] | None = None

    @property
    def bucket(self) -> str:
        """The limiter bucket this client's calls count against."""
        return self._bucket

    def close(self) -> None:
        """Close the HTTP connection pool if this client created it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Comm100Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- the API ----------------------------------------------------------------------

    def check_connection(self) -> int:
        """The admin's *Test*: one cheap call; the number of contact fields, or an error."""
        return len(self.contact_fields(refresh=True))

    def contact_fields(self, *, refresh: bool = False) -> list[ContactField]:
        """The site's contact fields, system and custom (cached for a few minutes)."""
        with self._fields_lock:
            cached = self._fields_cache
            if (
                not refresh
                and cached is not None
                and self._monotonic() - cached[0] < self._fields_ttl_s
            ):
                return list(cached[1])
        endpoint = f"GET {CONTACT_FIELDS}"
        response = self._request("GET", CONTACT_FIELDS, endpoint)
        fields = self._parsed(endpoint, response, parse_contact_fields)
        with self._fields_lock:
            self._fields_cache = (self._monotonic(), fields)
        return list(fields)

    def prechat_fields(self) -> list[FormField]:
        """The Live Chat pre-chat form's fields."""
        endpoint = f"GET {PRECHAT_FIELDS}"
        response = self._request("GET", PRECHAT_FIELDS, endpoint)
        return self._parsed(
            endpoint, response, lambda v: parse_form_fields(v, "the pre-chat form fields")
        )

    def offline_fields(self) -> list[FormField]:
        """The Live Chat offline message form's fields."""
        endpoint = f"GET {OFFLINE_FIELDS}"
        response = self._request("GET", OFFLINE_FIELDS, endpoint)
        return self._parsed(
            endpoint, response, lambda v: parse_form_fields(v, "the offline message form fields")
        )

    def custom_variables(self) -> list[CustomVariable]:
        """The Live Chat custom variables."""
        endpoint = f"GET {CUSTOM_VARIABLES}"
        response = self._request("GET", CUSTOM_VARIABLES, endpoint)
        return self._parsed(endpoint, response, parse_custom_variables)

    def get_contact(self, contact_id: str) -> Contact | None:
        """A contact with its fields by name and identities by type; None when there is none.

        A contact merged into another is followed to the one it became. Custom fields come
        from the API by field id; they are named with `contact/fields`.
        """
        raw = self._raw_contact(contact_id)
        seen = {contact_id}
        for _ in range(MAX_MERGE_HOPS):
            if raw is None or raw.merged_into is None or raw.merged_into in seen:
                break
            seen.add(raw.merged_into)
            merged = self._raw_contact(raw.merged_into)
            if merged is None:
                break
            raw = merged
        if raw is None:
            return None
        identities = raw.identities
        if identities is None:
            identities = self._contact_identities(raw.id)
        return Contact(raw.id, self._named_fields(raw, identities), identities)

    def get_ticket(self, ticket_id: str | int) -> Ticket:
        """A ticket's subject and requester; `NotFoundError` when there is no such ticket."""
        key = str(ticket_id).strip()
        if not key:
            raise ValueError("a ticket id cannot be empty")
        path = TICKET.format(ticket_id=quote(key, safe=""))
        endpoint = f"GET {TICKET}"
        response = self._request("GET", path, endpoint, accept={404})
        body = decode_body(response.content, response.headers.get("content-type"))
        if response.status_code == 404 or _is_nothing(body):
            self._check_not_found(endpoint, response.status_code, body)
            raise NotFoundError(f"Comm100 has no ticket {trim(key, 40)}.", endpoint=endpoint)
        return self._parsed_body(endpoint, response.status_code, body, parse_ticket)

    def read_ticket_context(self, event: InboundEvent) -> ConversationContext:
        """The context of a ticket trigger, completed with the requester's contact."""
        return self.complete_ticket_context(event.context, event.comm100_ids.get("ticket_id"))

    def complete_ticket_context(
        self, context: ConversationContext, ticket_id: str | None
    ) -> ConversationContext:
        """A ticketing context with the requesting contact's fields and identities.

        When the trigger did not say whether the requester is a contact or a visitor, the ticket
        is read to learn it. A visitor requester has no contact to read; a contact that no longer
        exists leaves the context without contact fields.
        """
        if context.channel != "ticketing":
            return context
        if (context.subject_kind is None or context.subject_id is None) and ticket_id:
            ticket = self.get_ticket(ticket_id)
            kind: Literal["contact", "visitor"] | None = None
            if ticket.requester_kind == "contact":
                kind = "contact"
            elif ticket.requester_kind == "visitor":
                kind = "visitor"
            context = replace(context, subject_kind=kind, subject_id=ticket.requester_id)
        if context.subject_kind != "contact" or context.subject_id is None:
            return context
        contact = self.get_contact(context.subject_id)
        if contact is None:
            return context
        return replace(context, contact=dict(contact.fields), identities=dict(contact.identities))

    # --- contacts, assembled ------------------------------------------------------------

    def _raw_contact(self, contact_id: str) -> RawContact | None:
        key = contact_id.strip()
        if not key:
            raise ValueError("a contact id cannot be empty")
        path = CONTACT.format(contact_id=quote(key, safe=""))
        endpoint = f"GET {CONTACT}"
        response = self._request("GET", path, endpoint, accept={404})
        body = decode_body(response.content, response.headers.get("content-type"))
        if response.status_code == 404 or _is_nothing(body):
            self._check_not_found(endpoint, response.status_code, body)
            return None
        return self._parsed_body(endpoint, response.status_code, body, parse_contact)

    def _contact_identities(self, contact_id: str) -> dict[str, str]:
        """Identities read on their own, when the contact came without them."""
        path = CONTACT_IDENTITIES.format(contact_id=quote(contact_id, safe=""))
        endpoint = f"GET {CONTACT_IDENTITIES}"
        response = self._request("GET", path, endpoint, accept={404})
        body = decode_body(response.content, response.headers.get("content-type"))
        if response.status_code == 404 or _is_nothing(body):
            self._check_not_found(endpoint, response.status_code, body)
            return {}
        return self._parsed_body(endpoint, response.status_code, body, parse_identities)

    def _named_fields(self, raw: RawContact, identities: Mapping[str, str]) -> dict[str, str]:
        """System fields by key, custom fields by name, identity fields by their field name."""
        fields = dict(raw.fields)
        if not raw.custom_values and not identities:
            return fields
        known = self.contact_fields()
        if any(k not in raw.custom_names and not _names(known, k) for k in raw.custom_values):
            # A field created since the list was cached: read the list again, once.
            known = self.contact_fields(refresh=True)
        for key, value in raw.custom_values.items():
            name = raw.custom_names.get(key) or _names(known, key)
            if name is not None:
                fields.setdefault(name, value)
        for field in known:
            kind = field.identity_type
            if field.is_identity and kind is not None and kind in identities:
                fields.setdefault(field.name, identities[kind])
        return fields

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

        Every attempt waits for its own slot in the shared window.
        """
        url = self._base_url + path
        headers = {
            "Authorization": f"Basic {self._credentials}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        params = {"siteId": str(self._site_id)}
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
                    params=params,
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

    # --- reading answers ---------------------------------------------------------------

    def _parsed(self, endpoint: str, response: httpx.Response, parse: Callable[[Any], T]) -> T:
        body = decode_body(response.content, response.headers.get("content-type"))
        return self._parsed_body(endpoint, response.status_code, body, parse)

    def _parsed_body(self, endpoint: str, status: int, body: Body, parse: Callable[[Any], T]) -> T:
        if body.kind != "json":
            raise self._not_an_api(endpoint, f"answered {body.describe()}", status)
        try:
            return parse(body.value)
        except ShapeError as exc:
            raise self._not_an_api(
                endpoint, f"answered an unexpected shape ({exc})", status
            ) from None

    def _check_not_found(self, endpoint: str, status: int, body: Body) -> None:
        """A 404 (or an empty answer) means "no such thing", unless a web page said it."""
        if body.kind == "html":
            raise self._not_an_api(endpoint, f"answered {status} with an HTML page", status)

    # --- errors ------------------------------------------------------------------------

    def _classified(self, endpoint: str, response: httpx.Response) -> Comm100Error:
        status = response.status_code
        body = decode_body(response.content, response.headers.get("content-type"))
        if status in (401, 403):
            return BadCredentialsError(
                f"Comm100 refused the agent e-mail and API key (HTTP {status} on "
                f"{endpoint}){self._quoted(body)}. Check the agent e-mail, the API key, the "
                "site id, and that the agent may use the API.",
                upstream_status=status,
                endpoint=endpoint,
            )
        if status == 404:
            return self._not_an_api(endpoint, "answered 404 (no such endpoint)", status)
        if 300 <= status < 400:
            location = trim(response.headers.get("location", "?"), 120)
            return self._not_an_api(endpoint, f"answered a redirect to {location}", status)
        if 400 <= status < 500:
            return InvalidRequestError(
                f"Comm100 rejected {endpoint} (HTTP {status}){self._quoted(body)}.",
                upstream_status=status,
                endpoint=endpoint,
            )
        return self._not_an_api(endpoint, f"answered HTTP {status}", status)

    def _not_an_api(self, endpoint: str, what: str, status: int | None) -> NotComm100ApiError:
        return NotComm100ApiError(
            f"The API base URL does not look like Comm100's v4 API: {endpoint} {what}. "
            "Check the API base URL (e.g. https://api11.comm100.io/v4).",
            upstream_status=status,
            endpoint=endpoint,
        )

    def _private_address(
        self, endpoint: str, refused: PrivateAddressRefused
    ) -> PrivateAddressError:
        return PrivateAddressError(
            f"The Comm100 host {refused.host} resolves to a private address "
            f"({refused.address}), so it was not called ({endpoint}). Set "
            "OPTIBRIDGE_ALLOW_PRIVATE_URLS=1 only for sandboxes and local development.",
            endpoint=endpoint,
        )

    def _unreachable(self, endpoint: str, reason: str) -> UnreachableError:
        return UnreachableError(
            f"Could not reach {_host(self._base_url)} ({endpoint}): {reason}.",
            endpoint=endpoint,
        )

    def _gave_up(self, endpoint: str, failure: _Failure) -> Comm100Error:
        attempts = f"after {self._max_attempts} attempt{'s' if self._max_attempts > 1 else ''}"
        if failure.unreachable:
            return self._unreachable(endpoint, f"{failure.message} ({attempts})")
        if failure.status == 429:
            message = f"Comm100 kept answering 429 (too many requests) to {endpoint} {attempts}."
        else:
            message = f"Comm100 {failure.message} to {endpoint} {attempts}."
        return TransientError(
            message,
            upstream_status=failure.status,
            endpoint=endpoint,
            http_status=504 if failure.timed_out else 502,
        )

    def _quoted(self, body: Body) -> str:
        """': <what the server said>' with the secrets redacted, or '' when it said nothing."""
        message = error_message(body)
        for secret, label in ((self._api_key, "[API key]"), (self._credentials, "[credentials]")):
            message = message.replace(secret, label)
        message = message.rstrip(" .")
        return f": {message}" if message else ""


def _names(fields: list[ContactField], key: str) -> str | None:
    """The name of the contact field whose id (or name) is `key`."""
    for field in fields:
        if field.id == key or field.id.lower() == key.lower():
            return field.name
    for field in fields:
        if field.name == key:
            return field.name
    return None


def _is_nothing(body: Body) -> bool:
    return body.kind == "empty" or (body.kind == "json" and body.value is None)


def _checked_base_url(base_url: str) -> str:
    """The admin's API base URL as a prefix: kept as typed, with exactly one trailing slash."""
    stripped = base_url.strip()
    try:
        url = httpx.URL(stripped)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host or url.query:
        raise NotComm100ApiError(
            "The Comm100 API base URL must be a web address starting with https:// "
            "(e.g. https://api11.comm100.io/v4)."
        )
    return stripped.rstrip("/") + "/"


def _checked_site_id(site_id: int | str) -> int:
    try:
        value = int(str(site_id).strip())
    except ValueError:
        value = 0
    if isinstance(site_id, bool) or value < 1:
        raise InvalidRequestError("The Comm100 site id must be a positive whole number.")
    return value


def _checked_api_key(api_key: str) -> str:
    key = api_key.strip()
    if not key:
        raise BadCredentialsError("No Comm100 API key is set.")
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        raise BadCredentialsError(
            "The Comm100 API key contains characters an API key cannot have "
            "(spaces or non-ASCII characters)."
        )
    return key


def _checked_email(agent_email: str) -> str:
    email = agent_email.strip()
    if not email:
        raise BadCredentialsError("No Comm100 agent e-mail is set.")
    if ":" in email or not email.isprintable() or any(c.isspace() for c in email):
        raise BadCredentialsError(
            "The Comm100 agent e-mail cannot contain spaces, colons or control characters."
        )
    return email


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
    said = " ".join(str(c) for c in causes).lower()
    if "temporary failure in name resolution" in said:
        return "its name could not be resolved (temporary DNS failure)", False
    if any(s in said for s in ("name or service not known", "nodename nor servname")):
        return "the host name does not resolve", True
    if "certificate" in said or "ssl" in said or "tls" in said:
        return "the TLS handshake failed", True
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "the API base URL must start with https://", True
    if "refused" in said:
        return "the connection was refused", False
    if isinstance(exc, httpx.ConnectError):
        return "the connection failed", False
    return "the connection broke before an answer came", False


def _retry_after_s(value: str | None) -> float | None:
    """Retry-After as seconds (it may be a number or an HTTP date)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        return max(0.0, seconds) if seconds == seconds else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
