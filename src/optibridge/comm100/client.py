"""The Comm100 v4 API client: contacts, form fields, tickets, Live Chat webhooks, past
conversations (for a backfill), within the rate limit.

Synchronous, like the Optimove client; both are `optibridge.vendor_http.client.VendorClient`s,
whose one private `_request()` owns the limiter slot of every attempt, timeouts, retries with
backoff and jitter, and the classification of failures into `optibridge.comm100.errors`. This
module adds what is Comm100's: HTTP Basic auth (the agent's e-mail and API key), the `siteId`
query parameter, the limiter bucket (Comm100 allows 300 calls per 5 minutes per IP, so the
bucket is the API host: every site on the same data centre shares it), and reading its answers.

The API key travels only in the `Authorization` header. It is never put in a URL or a message,
and anything Comm100 says back is redacted before it is quoted; so is a webhook's target URL
(ours carries the site's secret token), with every value of its query.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Literal, TypeVar, Unpack
from urllib.parse import quote

import httpx

from optibridge.comm100.errors import (
    BadCredentialsError,
    InvalidRequestError,
    MissingPermissionError,
    NotComm100ApiError,
    NotFoundError,
    PrivateAddressError,
    TransientError,
    UnreachableError,
)
from optibridge.comm100.history import (
    CHAT_INCLUDES,
    CHATS_SEARCH,
    DEFAULT_PAGE_SIZE,
    OFFLINE_MESSAGE_INCLUDES,
    OFFLINE_MESSAGES_SEARCH,
    OLDEST_FIRST,
    TICKETS,
    HistoryPage,
    iso,
    parse_page,
    time_filter,
)
from optibridge.comm100.schemas import (
    Contact,
    ContactField,
    CustomVariable,
    FormField,
    RawContact,
    ShapeError,
    Ticket,
    error_message,
    parse_contact,
    parse_contact_fields,
    parse_custom_variables,
    parse_form_fields,
    parse_identities,
    parse_ticket,
)
from optibridge.comm100.webhook_registrations import (
    LIVECHAT_WEBHOOK_EVENTS,
    LiveChatWebhook,
    parse_livechat_webhooks,
    webhook_event,
    written_webhook,
)
from optibridge.comm100.webhooks import InboundEvent
from optibridge.domain.backfills import Kind
from optibridge.domain.context import ConversationContext
from optibridge.vendor_http.bodies import Body, decode_body, trim
from optibridge.vendor_http.client import CallRecord as CallRecord  # re-exported
from optibridge.vendor_http.client import (
    ClientOptions,
    SlotLimiter,
    Vendor,
    VendorClient,
    checked_api_key,
    host_of,
    url_prefix,
)

CONTACT = "contact/contacts/{contact_id}"
CONTACT_IDENTITIES = "contact/contacts/{contact_id}/contactIdentities"
CONTACT_FIELDS = "contact/fields"
PRECHAT_FIELDS = "livechat/preChatFormFields"
OFFLINE_FIELDS = "livechat/offlineMessageFormFields"
CUSTOM_VARIABLES = "livechat/customVariables"
TICKET = "ticketing/tickets/{ticket_id}"
LIVECHAT_WEBHOOKS = "livechat/webhooks"
LIVECHAT_WEBHOOK = "livechat/webhooks/{webhook_id}"

# Comm100's documented limit: 300 calls per 5 minutes per IP. Build the shared `RateLimiter`
# for Comm100 with these (and a margin), and give it to every client.
RATE_LIMIT = 300
RATE_WINDOW_S = 300.0

# Contact field ids change only when an administrator edits the fields.
FIELDS_TTL_S = 300.0
# A merged contact points at the one it became; that one may have been merged too.
MAX_MERGE_HOPS = 3
T = TypeVar("T")

COMM100 = Vendor(
    name="Comm100",
    api="Comm100's v4 API",
    base_url_setting="the API base URL",
    example_base_url="https://api11.comm100.io/v4",
    credentials="the agent e-mail and API key",
    credentials_advice=(
        "Check the agent e-mail, the API key, the site id, and that the agent may use the API."
    ),
    error_message=error_message,
    bad_credentials=BadCredentialsError,
    not_the_api=NotComm100ApiError,
    private_address=PrivateAddressError,
    unreachable=UnreachableError,
    invalid_request=InvalidRequestError,
    transient=TransientError,
)


def bucket_for_api_base(api_base_url: str) -> str:
    """The limiter bucket of an API base URL: Comm100 counts calls per (our IP, its host)."""
    return f"comm100:{host_of(_checked_base_url(api_base_url))}"


class Comm100Client(VendorClient):
    """Calls one Comm100 site as one agent. Thread-safe; share one per site.

    Besides its own arguments it takes `ClientOptions`: timeout_s, http, sleep, jitter,
    backoff_base_s, backoff_max_s, max_retry_after_s, on_call.
    """

    vendor = COMM100

    def __init__(
        self,
        api_base_url: str,
        agent_email: str,
        api_key: str,
        site_id: int | str,
        *,
        limiter: SlotLimiter,
        max_attempts: int = 4,
        fields_ttl_s: float = FIELDS_TTL_S,
        monotonic: Callable[[], float] = time.monotonic,
        **options: Unpack[ClientOptions],
    ) -> None:
        base_url = _checked_base_url(api_base_url)
        site = _checked_site_id(site_id)
        key = checked_api_key(api_key, COMM100)
        email = _checked_email(agent_email)
        credentials = base64.b64encode(f"{email}:{key}".encode()).decode("ascii")
        super().__init__(
            base_url,
            bucket=f"comm100:{host_of(base_url)}",
            auth_headers={"Authorization": f"Basic {credentials}"},
            redact={key: "[API key]", credentials: "[credentials]"},
            params={"siteId": str(site)},
            limiter=limiter,
            max_attempts=max_attempts,
            **options,
        )
        self._fields_ttl_s = fields_ttl_s
        self._monotonic = monotonic
        self._fields_lock = threading.Lock()
        self._fields_cache: tuple[float, list[ContactField]] | None = None

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

    # --- past conversations, for a backfill ------------------------------------------------

    def past_conversations(
        self,
        kind: Kind,
        since: datetime,
        until: datetime,
        *,
        page_index: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> HistoryPage:
        """One page (from 1) of the chats, offline messages or tickets of [since, until), each
        as the event its live webhook would have made (`optibridge.comm100.history`)."""
        if page_index < 1 or page_size < 1:
            raise ValueError("pages count from 1 and hold at least one conversation")
        query: dict[str, str | list[str]] = {
            "pageIndex": str(page_index),
            "pageSize": str(page_size),
        }
        if kind == "ticket":
            endpoint = f"GET {TICKETS}"
            query.update(timeFrom=iso(since), timeTo=iso(until))
            response = self._request("GET", TICKETS, endpoint, query=query)
        else:
            path = CHATS_SEARCH if kind == "chat" else OFFLINE_MESSAGES_SEARCH
            endpoint = f"POST {path}"
            includes = CHAT_INCLUDES if kind == "chat" else OFFLINE_MESSAGE_INCLUDES
            query.update(OLDEST_FIRST, include=list(includes))
            response = self._request(
                "POST", path, endpoint, json=time_filter(since, until), query=query
            )
        return self._parsed(
            endpoint,
            response,
            lambda value: parse_page(value, kind, page_index=page_index, page_size=page_size),
        )

    # --- Live Chat webhooks (the agent needs the *Manage Integration* permission) ----------

    def livechat_webhooks(self) -> list[LiveChatWebhook]:
        """Every Live Chat webhook of the site, ours and anyone else's."""
        endpoint = f"GET {LIVECHAT_WEBHOOKS}"
        response = self._webhook_request("GET", LIVECHAT_WEBHOOKS, endpoint)
        return self._parsed(endpoint, response, parse_livechat_webhooks)

    def create_livechat_webhook(self, event: str, target_url: str) -> LiveChatWebhook:
        """Register a webhook. Sent at most once unless Comm100 surely did not act on it (it
        was not reached, or answered 429): list the webhooks to learn what a failure left."""
        sent = _webhook(None, event, target_url)
        endpoint = f"POST {LIVECHAT_WEBHOOKS}"
        response = self._webhook_request(
            "POST", LIVECHAT_WEBHOOKS, endpoint, sent=sent, idempotent=False
        )
        return self._written(endpoint, response, sent)

    def update_livechat_webhook(
        self, webhook_id: str, event: str, target_url: str
    ) -> LiveChatWebhook:
        """Point a webhook elsewhere (or at another event); `NotFoundError` when it is gone."""
        sent = _webhook(webhook_id, event, target_url)
        path = LIVECHAT_WEBHOOK.format(webhook_id=_path_id(webhook_id))
        endpoint = f"PUT {LIVECHAT_WEBHOOK}"
        response = self._webhook_request("PUT", path, endpoint, sent=sent, accept=(404,))
        if response.status_code == 404:
            self._check_not_found(endpoint, 404, _body(response))
            raise NotFoundError(
                f"Comm100 has no webhook {trim(webhook_id, 40)}.", endpoint=endpoint
            )
        return self._written(endpoint, response, sent)

    def delete_livechat_webhook(self, webhook_id: str) -> bool:
        """Remove a webhook: True when removed, False when Comm100 had none with this id."""
        path = LIVECHAT_WEBHOOK.format(webhook_id=_path_id(webhook_id))
        endpoint = f"DELETE {LIVECHAT_WEBHOOK}"
        response = self._webhook_request("DELETE", path, endpoint, accept=(404,))
        if response.status_code == 404:
            self._check_not_found(endpoint, 404, _body(response))
            return False
        return True

    def _webhook_request(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        sent: LiveChatWebhook | None = None,
        accept: tuple[int, ...] = (),
        idempotent: bool = True,
    ) -> httpx.Response:
        """A webhook call; a 403 says plainly that the agent lacks *Manage Integration*."""
        body = None
        redact: dict[str, str] = {}
        if sent is not None:
            body = {"event": sent.event, "targetUrl": sent.target_url}
            redact = _url_secrets(sent.target_url or "")
        response = self._request(
            method,
            path,
            endpoint,
            json=body,
            accept={403, *accept},
            idempotent=idempotent,
            redact=redact,
        )
        if response.status_code == 403:
            raise MissingPermissionError(
                f"Comm100 refused {endpoint} (HTTP 403){self._quoted(_body(response), redact)}: "
                "the agent whose API key this is lacks the Manage Integration permission, "
                "which managing Live Chat webhooks needs. Give the agent that permission in "
                "Comm100 (or connect with an agent who has it), or add the webhooks by hand.",
                upstream_status=403,
                endpoint=endpoint,
            )
        return response

    def _written(
        self, endpoint: str, response: httpx.Response, sent: LiveChatWebhook
    ) -> LiveChatWebhook:
        body = _body(response)
        if body.kind in ("html", "text"):
            raise self._not_an_api(endpoint, f"answered {body.describe()}", response.status_code)
        try:
            return written_webhook(body.value, sent)
        except ShapeError as exc:
            raise self._not_an_api(
                endpoint, f"answered an unexpected shape ({exc})", response.status_code
            ) from None

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


def _names(fields: list[ContactField], key: str) -> str | None:
    """The name of the contact field whose id (or name) is `key`."""
    for field in fields:
        if field.id == key or field.id.lower() == key.lower():
            return field.name
    for field in fields:
        if field.name == key:
            return field.name
    return None


def _body(response: httpx.Response) -> Body:
    return decode_body(response.content, response.headers.get("content-type"))


def _webhook(webhook_id: str | None, event: str, target_url: str) -> LiveChatWebhook:
    """What a create or change sends, checked: a documented event, an http(s) target."""
    known = webhook_event(event)
    if known not in LIVECHAT_WEBHOOK_EVENTS:
        raise ValueError(f"{event!r} is not a Live Chat webhook event")
    if url_prefix(target_url) is None:
        # Never the URL itself in the message: ours carries a secret token.
        raise InvalidRequestError("A webhook's target must be an http or https address.")
    return LiveChatWebhook(webhook_id, known, target_url)


def _url_secrets(url: str) -> dict[str, str]:
    """A target URL and each value of its query, each as it may be quoted back, by label."""
    if not url:
        return {}
    secrets = {url: "[webhook URL]"}
    try:
        params = httpx.URL(url).params
    except httpx.InvalidURL:
        return secrets
    for value in params.values():
        if len(value) >= 8:
            secrets[quote(value, safe="")] = "[secret]"
            secrets[value] = "[secret]"
    return secrets


def _path_id(webhook_id: str) -> str:
    key = webhook_id.strip()
    if not key:
        raise ValueError("a webhook id cannot be empty")
    return quote(key, safe="")


def _is_nothing(body: Body) -> bool:
    return body.kind == "empty" or (body.kind == "json" and body.value is None)


def _checked_base_url(base_url: str) -> str:
    """The admin's API base URL as a prefix: kept as typed, with exactly one trailing slash."""
    prefix = url_prefix(base_url, query_allowed=False)
    if prefix is None:
        raise NotComm100ApiError(
            "The Comm100 API base URL must be a web address starting with https:// "
            "(e.g. https://api11.comm100.io/v4)."
        )
    return prefix


def _checked_site_id(site_id: int | str) -> int:
    try:
        value = int(str(site_id).strip())
    except ValueError:
        value = 0
    if isinstance(site_id, bool) or value < 1:
        raise InvalidRequestError("The Comm100 site id must be a positive whole number.")
    return value


def _checked_email(agent_email: str) -> str:
    email = agent_email.strip()
    if not email:
        raise BadCredentialsError("No Comm100 agent e-mail is set.")
    if ":" in email or not email.isprintable() or any(c.isspace() for c in email):
        raise BadCredentialsError(
            "The Comm100 agent e-mail cannot contain spaces, colons or control characters."
        )
    return email
