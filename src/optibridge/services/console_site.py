"""The console's view of a site: its settings, its vendors and what they may cost an agent.

An agent is waiting on every call the tab makes, so the console talks to Optimove and Comm100
through clients of its own: the same shared limiters as the worker (the budget is one), but a
slot must come within `MAX_LIMITER_WAIT_S` (else a 429 `busy`), timeouts are shorter and
retries fewer. Their failures reach the agent as plain sentences (`for_agents`); the details
go to the sync log.
"""

from __future__ import annotations

import functools
import math
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlencode

from optibridge.comm100 import errors as comm100_errors
from optibridge.comm100.client import Comm100Client
from optibridge.comm100.webhooks import (
    WebhookShapeError,
    parse_livechat_webhook,
    parse_ticket_trigger,
)
from optibridge.domain.budget import Slot
from optibridge.domain.context import ConversationContext
from optibridge.domain.records import Channel
from optibridge.domain.settings import SiteSettings
from optibridge.errors import AppError, Invalid, Problem
from optibridge.logs import get_logger
from optibridge.metrics import observe_optimove_call
from optibridge.optimove import errors as optimove_errors
from optibridge.optimove.client import OptimoveClient, bucket_for_api_key
from optibridge.optimove.errors import OptimoveError
from optibridge.optimove.schemas import AttributeInfo, CustomerAttributes
from optibridge.runtime import Runtime
from optibridge.services.console_session import ConsoleCaller, require_console_access
from optibridge.services.settings import StoredSettings, load_settings
from optibridge.services.sites import get_site, webhook_token
from optibridge.store.limiter import LimiterBusy, RateLimiter
from optibridge.store.repositories import AttributeCacheRepository
from optibridge.sync.worker import SiteSetup

log = get_logger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

LOOKUP_EVENT = "console_lookup"
# An agent is waiting: never hold them for Optimove's whole budget or the worker's retries.
MAX_LIMITER_WAIT_S = 3.0
CONSOLE_TIMEOUT_S = 5.0
CONSOLE_MAX_ATTEMPTS = 2


# --- errors an agent can act on ------------------------------------------------------------


class OptimoveBusy(optimove_errors.TransientError):
    """429: the shared Optimove budget has no slot for the agent soon enough."""

    default_code = "busy"

    def __init__(self, retry_after_s: float) -> None:
        seconds = max(1, math.ceil(retry_after_s))
        super().__init__(
            "Optimove is busy with other updates right now (it takes 50 calls per 10 seconds);"
            f" try again in {seconds} second{'s' if seconds > 1 else ''}.",
            http_status=429,
        )
        self.retry_after_s = retry_after_s


class Comm100Busy(comm100_errors.TransientError):
    """429: the Comm100 budget has no slot for the agent soon enough."""

    default_code = "busy"

    def __init__(self, retry_after_s: float) -> None:
        seconds = max(1, math.ceil(retry_after_s))
        super().__init__(
            f"Comm100 is busy right now; try again in {seconds} second"
            f"{'s' if seconds > 1 else ''}.",
            http_status=429,
        )


class CreationNotAllowed(AppError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], 403, "creation_not_allowed")


class NeedsContact(AppError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], 409, "needs_contact")


class NotConnected(AppError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], 409, "not_connected")


def plain_message(error: AppError) -> str:
    """What an agent is told about a vendor failure; the details go to the sync log."""
    if isinstance(error, OptimoveBusy | Comm100Busy):
        return error.message
    if isinstance(error, OptimoveError):
        vendor = "Optimove"
    elif isinstance(error, comm100_errors.Comm100Error):
        vendor = "Comm100"
    else:
        return error.message
    if isinstance(error, optimove_errors.BadCredentialsError | comm100_errors.BadCredentialsError):
        return f"{vendor} refused this site's API key: ask your administrator to check it."
    if isinstance(error, optimove_errors.NotOptimoveApiError | comm100_errors.NotComm100ApiError):
        return (
            f"The {vendor} connection is not set up right (its address does not answer like"
            f" {vendor}): ask your administrator."
        )
    if getattr(error, "retryable", False):
        return f"{vendor} can't be reached right now; try again in a moment."
    return error.message


def for_agents(function: Callable[P, T]) -> Callable[P, T]:
    """Vendor failures reach the agent as plain messages, with their status and code."""

    @functools.wraps(function)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return function(*args, **kwargs)
        except (OptimoveError, comm100_errors.Comm100Error) as error:
            raise AppError(plain_message(error), [], error.status, error.code) from None

    return guarded


class _BoundedLimiter:
    """The shared limiter, through which an agent waits at most `max_wait_s` for a slot."""

    def __init__(
        self, limiter: RateLimiter, max_wait_s: float, busy: Callable[[float], Exception]
    ) -> None:
        self._limiter = limiter
        self._max_wait_s = max_wait_s
        self._busy = busy

    def take_slot(self, bucket: str) -> Slot:
        try:
            return self._limiter.take_slot(bucket, max_wait_s=self._max_wait_s)
        except LimiterBusy as busy:
            raise self._busy(busy.retry_after_s) from None

    def answered(self, slot: Slot) -> None:
        self._limiter.answered(slot)

    def record_throttled(self, bucket: str) -> None:
        self._limiter.record_throttled(bucket)


# --- what the host page tells us -----------------------------------------------------------


@dataclass(frozen=True)
class HostContext:
    """The conversation as the host page (or Comm100's SDK) described it."""

    channel: Channel
    context: ConversationContext
    comm100_ids: dict[str, str]
    ticket_id: str | None = None

    @property
    def order_key(self) -> str:
        """Console writes take their turn with the same subject's events (SPEC 4.4)."""
        if self.context.subject_kind and self.context.subject_id:
            return f"{self.context.subject_kind}:{self.context.subject_id}"
        return f"console:{uuid.uuid4().hex}"


def read_host_context(channel: Channel, raw: Mapping[str, Any]) -> HostContext:
    """The host's context, parsed by the same code as Comm100's webhooks (422 when unreadable).

    Live Chat: `{"chat_id", "visitor": {…the webhook's visitor keys…}}`.
    Ticketing: `{"ticket_id", "requester": {"type": "contact" | "visitor", "id"}}`.
    """
    try:
        if channel == "livechat":
            body: dict[str, Any] = {"event": LOOKUP_EVENT}
            if raw.get("visitor") is not None:
                body["visitor"] = raw["visitor"]
            if raw.get("chat_id") is not None:
                body["chat_id"] = raw["chat_id"]
            event = parse_livechat_webhook(body)
            return HostContext(channel, event.context, dict(event.comm100_ids))
        requester = raw.get("requester")
        ticket: dict[str, Any] = {"Id": raw.get("ticket_id")}
        if isinstance(requester, Mapping):
            ticket["ContactOrVisitorId"] = requester.get("id")
            ticket["ContactOrVisitorType"] = requester.get("type")
        event = parse_ticket_trigger({"TicketInfo": ticket})
    except WebhookShapeError as error:
        raise Invalid(
            "The conversation context is not readable.", [Problem("/context", str(error))]
        ) from None
    return HostContext(
        channel, event.context, dict(event.comm100_ids), event.comm100_ids.get("ticket_id")
    )


# --- a site, as the console needs it --------------------------------------------------------


class _FieldDetails:
    """Attribute aliases and types, learned from customer reads.

    Optimove's attribute list gives names and descriptions only; a customer read gives each
    attribute's Alias (the tab's label) and FieldType (how an agent's value is checked). The
    console remembers them per account, in this process, from the reads it makes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accounts: dict[str, dict[str, AttributeInfo]] = {}

    def learn(self, account: str, customer: CustomerAttributes) -> None:
        learned = {
            a.real_field_name.casefold(): AttributeInfo(
                a.real_field_name, "", a.alias, a.field_type
            )
            for a in customer.attributes
        }
        with self._lock:
            self._accounts.setdefault(account, {}).update(learned)

    def has_read(self, account: str) -> bool:
        """Whether a customer of the account was read (all it could teach is known)."""
        with self._lock:
            return account in self._accounts

    def get(self, account: str, name: str) -> AttributeInfo | None:
        with self._lock:
            return self._accounts.get(account, {}).get(name.casefold())


_DETAILS = _FieldDetails()


@dataclass
class ConsoleSite:
    """A site's settings and the console's clients of its Optimove and Comm100 accounts."""

    site_id: int
    stored: StoredSettings
    attributes: list[AttributeInfo]
    callback_base: str | None
    optimove: OptimoveClient | None
    comm100: Comm100Client | None

    @property
    def settings(self) -> SiteSettings:
        return self.stored.settings

    @property
    def account(self) -> str:
        """The Optimove account: its Base URL and (a digest of) its key."""
        key = bucket_for_api_key(self.stored.optimove_api_key or "-")
        return f"{self.settings.optimove.base_url}|{key}"

    def field_types(self) -> dict[str, str | None]:
        types: dict[str, str | None] = {}
        for listed in self.attributes:
            attribute = self.attribute(listed.real_field_name)
            types[listed.real_field_name] = attribute.field_type if attribute else None
        return types

    def attribute(self, name: str) -> AttributeInfo | None:
        """What is known of an attribute: the account's list, completed by what reads said."""
        folded = name.casefold()
        listed = next((a for a in self.attributes if a.real_field_name == name), None) or next(
            (a for a in self.attributes if a.real_field_name.casefold() == folded), None
        )
        learned = _DETAILS.get(self.account, name)
        if learned is None or listed is None:
            return listed or learned
        return replace(
            listed,
            alias=listed.alias or learned.alias,
            field_type=listed.field_type or learned.field_type,
        )

    def learn(self, customer: CustomerAttributes) -> None:
        """Remember the aliases and types a customer read gave."""
        _DETAILS.learn(self.account, customer)

    def knows_details(self, names: Sequence[str]) -> bool:
        """Whether the labels and types of these fields are known (else a read teaches them)."""
        if _DETAILS.has_read(self.account):
            return True
        attributes = [self.attribute(name) for name in names]
        return all(a is not None and a.field_type is not None for a in attributes)

    def setup(self) -> SiteSetup:
        """What the shared write path needs."""
        return SiteSetup(self.stored, self.field_types(), self.callback_base, self.optimove)

    def require_optimove(self) -> OptimoveClient:
        if self.optimove is None:
            raise NotConnected(NOT_CONNECTED)
        return self.optimove


NOT_CONNECTED = (
    "Optimove is not connected for this site yet (Base URL and API key): ask your administrator."
)


def load_site(runtime: Runtime, site_id: int, *, with_attributes: bool = True) -> ConsoleSite:
    stored = load_settings(runtime, site_id)
    settings = stored.settings
    config = runtime.config
    optimove: OptimoveClient | None = None
    if settings.optimove.base_url and stored.optimove_api_key:
        optimove = OptimoveClient(
            settings.optimove.base_url,
            stored.optimove_api_key,
            limiter=_BoundedLimiter(runtime.limiter, MAX_LIMITER_WAIT_S, OptimoveBusy),
            timeout_s=min(config.optimove_timeout_s, CONSOLE_TIMEOUT_S),
            max_attempts=min(config.optimove_max_attempts, CONSOLE_MAX_ATTEMPTS),
            http=runtime.http,
            on_call=observe_optimove_call,
        )
    comm100: Comm100Client | None = None
    section = settings.comm100
    if section.api_base_url and section.agent_email and stored.comm100_api_key:
        comm100 = Comm100Client(
            section.api_base_url,
            section.agent_email,
            stored.comm100_api_key,
            site_id,
            limiter=_BoundedLimiter(runtime.comm100_limiter, MAX_LIMITER_WAIT_S, Comm100Busy),
            timeout_s=min(config.comm100_timeout_s, CONSOLE_TIMEOUT_S),
            max_attempts=CONSOLE_MAX_ATTEMPTS,
            http=runtime.http,
        )
    callback_base: str | None = None
    if config.public_url:
        with runtime.unit_of_work(read_only=True) as session:
            token = webhook_token(runtime.box, get_site(session, site_id))
        query = urlencode({"token": token})
        callback_base = f"{config.public_url}/callbacks/optimove/{site_id}?{query}"
    attributes = load_attributes(runtime, site_id, optimove) if with_attributes else []
    return ConsoleSite(site_id, stored, attributes, callback_base, optimove, comm100)


def load_attributes(
    runtime: Runtime, site_id: int, client: OptimoveClient | None
) -> list[AttributeInfo]:
    """The account's attribute list, as cached for everyone; on a failed read, the last list
    known, else none (labels then fall back to field names)."""
    with runtime.unit_of_work(read_only=True) as session:
        repository = AttributeCacheRepository(session)
        fresh = repository.fresh(site_id, runtime.config.attribute_cache_ttl_s)
        known = fresh if fresh is not None else repository.fresh(site_id, math.inf)
    if fresh is not None or client is None:
        return [AttributeInfo(**item) for item in known or []]
    try:
        attributes = client.get_attribute_list()
    except OptimoveError as error:
        log.info("console_attribute_list_unavailable", site_id=site_id, error=str(error))
        return [AttributeInfo(**item) for item in known or []]
    with runtime.unit_of_work() as session:
        AttributeCacheRepository(session).store(site_id, [asdict(a) for a in attributes])
    return attributes


def check_access(runtime: Runtime, caller: ConsoleCaller, site_id: int) -> None:
    require_console_access(caller.principal, site_id)
    with runtime.unit_of_work(read_only=True) as session:
        get_site(session, site_id)


def completed_context(site: ConsoleSite, host: HostContext) -> ConversationContext:
    """A ticket's requester read from Comm100 (its contact fields and identities)."""
    context = host.context
    if host.channel != "ticketing" or context.subject_kind == "visitor":
        return context
    if site.comm100 is None:
        raise NotConnected(
            "The Comm100 connection is not set up (API base, agent e-mail, API key), so the"
            " ticket's contact can't be read: ask your administrator."
        )
    return site.comm100.complete_ticket_context(context, host.ticket_id)
