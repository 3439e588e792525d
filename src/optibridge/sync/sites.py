"""A site as the engine works with it: its settings with their keys, the account's attributes,
its clients of Optimove and Comm100, and where Optimove calls back.

There is one way to load a site (`load_site`), for the worker and for the agent console alike;
they differ in how their calls may wait (`Lane`): an agent is waiting on every call the tab
makes, so its clients take a slot from the shared limiter only if one comes within
`AGENT_MAX_WAIT_S` (else a 429 `busy`), time out sooner and retry less. An administrator's
preview reads on the budget's lowest priority (`background`) and stops rather than wait: its
clients take a slot only if one comes within `BACKGROUND_MAX_WAIT_S`. What customer reads
teach about attributes (their aliases and types; the attribute list has neither) is learned
once per account, in this process, for both (`FIELD_DETAILS`).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import Any, Literal
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from optibridge.comm100 import errors as comm100_errors
from optibridge.comm100.client import Comm100Client
from optibridge.domain.attributes import AttributeInfo
from optibridge.domain.budget import Priority, Slot, parse_group_limits
from optibridge.domain.settings import SiteSettings, is_masked
from optibridge.errors import AppError, Invalid, NotFound, Problem
from optibridge.logs import get_logger
from optibridge.metrics import observe_optimove_call
from optibridge.optimove import errors as optimove_errors
from optibridge.optimove.client import OptimoveClient
from optibridge.optimove.errors import OptimoveError
from optibridge.optimove.schemas import CustomerAttributes
from optibridge.runtime import Runtime
from optibridge.secret_box import SecretBox
from optibridge.store.limiter import LimiterBusy, RateLimiter
from optibridge.store.models import Site
from optibridge.store.models import SiteSettings as SiteSettingsRow
from optibridge.store.repositories import (
    AttributeCacheRepository,
    SettingsRepository,
    SiteRepository,
)
from optibridge.vendor_http.client import SlotLimiter

log = get_logger(__name__)

# Who is waiting on a call: an agent in the tab, the engine's work, or an administrator's
# preview, which only spends what agents and live events leave.
Lane = Literal["agent", "engine", "background"]
# An agent is waiting: never hold them for Optimove's whole budget or the worker's retries.
AGENT_MAX_WAIT_S = 3.0
AGENT_TIMEOUT_S = 5.0
AGENT_MAX_ATTEMPTS = 2
# A preview on the background lane stops (and says so) when no slot comes this soon.
BACKGROUND_MAX_WAIT_S = 2.0
# An administrator is waiting (a connection test, the site page's reads): a slot comes within
# a second or the answer says Optimove (or Comm100) is busy, and a Retry-After is honoured up to
# a second; timeouts and attempts are `OPTIBRIDGE_INTERACTIVE_*`.
INTERACTIVE_MAX_WAIT_S = 1.0

NOT_CONNECTED = (
    "Optimove is not connected for this site yet (Base URL and API key): ask your administrator."
)


class NotConnected(AppError):
    def __init__(self, message: str = NOT_CONNECTED) -> None:
        super().__init__(message, [], 409, "not_connected")


# --- the site's settings and secrets -----------------------------------------------------------


@dataclass(frozen=True)
class StoredSettings:
    """The settings document with its secrets opened (`SECRET_SETTINGS`)."""

    settings: SiteSettings
    optimove_api_key: str | None
    comm100_api_key: str | None
    comm100_oauth_secret: str | None = None

    @classmethod
    def of(cls, settings: SiteSettings) -> StoredSettings:
        """Validated settings, whose secrets are the ones to store."""
        return cls(
            settings,
            settings.optimove.api_key,
            settings.comm100.api_key,
            settings.comm100.oauth_client_secret,
        )

    @property
    def sign_in_ready(self) -> bool:
        """Whether agents and admins can sign in with Comm100: the platform URL, the OAuth
        client id and its secret are all stored (the secret is kept apart from the document)."""
        section = self.settings.comm100
        return bool(section.platform_url and section.oauth_client_id and self.comm100_oauth_secret)

    def secret(self, section: str, key: str) -> str | None:
        """The stored value of the secret setting `section.key`."""
        return {
            ("optimove", "api_key"): self.optimove_api_key,
            ("comm100", "api_key"): self.comm100_api_key,
            ("comm100", "oauth_client_secret"): self.comm100_oauth_secret,
        }[(section, key)]


@dataclass(frozen=True)
class OptimoveConnection:
    base_url: str
    api_key: str


@dataclass(frozen=True)
class WebhookUrls:
    """Where Comm100 and Optimove reach this site: they carry its secret token."""

    livechat: str
    ticketing: str
    optimove_callback: str


def get_site(session: Session, site_id: int) -> Site:
    site = SiteRepository(session).get(site_id)
    if site is None:
        raise NotFound(f"Site {site_id} does not exist.")
    return site


def webhook_token(box: SecretBox, site: Site) -> str:
    return box.open(site.webhook_token_enc)


def webhook_urls(box: SecretBox, site: Site, public_url: str) -> WebhookUrls:
    query = urlencode({"token": webhook_token(box, site)})
    base = public_url.rstrip("/")
    return WebhookUrls(
        livechat=f"{base}/webhooks/comm100/{site.site_id}/livechat?{query}",
        ticketing=f"{base}/webhooks/comm100/{site.site_id}/ticketing?{query}",
        optimove_callback=f"{base}/callbacks/optimove/{site.site_id}?{query}",
    )


def load_settings(runtime: Runtime, site_id: int) -> StoredSettings:
    """The site's settings with its keys opened (404 for a site that does not exist)."""
    with runtime.unit_of_work(read_only=True) as session:
        get_site(session, site_id)
        row = SettingsRepository(session).get(site_id)
        return _decode(row, runtime.box)


def optimove_connection(
    stored: StoredSettings, override: dict[str, Any] | None = None
) -> OptimoveConnection:
    """The connection to test or use; `override` lets an admin test before saving."""
    base_url = (override or {}).get("base_url") or stored.settings.optimove.base_url
    api_key = (override or {}).get("api_key")
    if not api_key or is_masked(api_key):
        api_key = stored.optimove_api_key
    problems = []
    if not base_url:
        problems.append(Problem("/optimove/base_url", "the Optimove Base URL is not set"))
    if not api_key:
        problems.append(Problem("/optimove/api_key", "the Optimove API key is not set"))
    if problems or base_url is None or api_key is None:
        raise Invalid("Optimove is not connected yet.", problems)
    return OptimoveConnection(base_url=base_url, api_key=api_key)


def fetch_attributes(
    runtime: Runtime,
    site_id: int,
    connection: OptimoveConnection,
    *,
    saved: bool,
    refresh: bool = False,
    client: OptimoveClient | None = None,
) -> tuple[list[AttributeInfo], bool]:
    """The account's attribute list and whether it came from the cache.

    One Optimove call unless a fresh cached copy exists (the list changes rarely). Only the
    saved connection's list is cached: a connection tried before saving may be another account.
    """
    if saved and not refresh:
        with runtime.unit_of_work(read_only=True) as session:
            cached = AttributeCacheRepository(session).fresh(
                site_id, runtime.config.attribute_cache_ttl_s
            )
        if cached is not None:
            return [AttributeInfo(**item) for item in cached], True
    client = client or runtime.optimove_client(connection.base_url, connection.api_key)
    attributes = client.get_attribute_list()
    if saved:
        with runtime.unit_of_work() as session:
            AttributeCacheRepository(session).store(
                site_id, [asdict(attribute) for attribute in attributes]
            )
    return attributes, False


def _decode(row: SiteSettingsRow | None, box: SecretBox) -> StoredSettings:
    if row is None:
        return StoredSettings(SiteSettings(), None, None)

    def opened(sealed: str | None) -> str | None:
        return box.open(sealed) if sealed else None

    return StoredSettings(
        SiteSettings.model_validate(row.document),
        opened(row.optimove_api_key_enc),
        opened(row.comm100_api_key_enc),
        opened(row.comm100_oauth_secret_enc),
    )


# --- what reads teach about attributes ----------------------------------------------------------


class FieldDetails:
    """Attribute aliases and types, learned from customer reads, per Optimove account.

    Optimove's attribute list gives names and descriptions only; a customer read gives each
    attribute's Alias (the tab's label) and FieldType (how a value is converted and checked).
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


FIELD_DETAILS = FieldDetails()


# --- a site, loaded -------------------------------------------------------------------------------


@dataclass
class SiteSetup:
    """A site's settings and the engine's clients of its Optimove and Comm100 accounts."""

    site_id: int
    stored: StoredSettings
    attributes: list[AttributeInfo]
    callback_base: str | None
    optimove: OptimoveClient | None = None
    comm100: Comm100Client | None = None
    details: FieldDetails = field(default=FIELD_DETAILS, repr=False)
    # The engine's background work (read-backs, backfills) calls on the lowest priority.
    optimove_background: OptimoveClient | None = None
    comm100_background: Comm100Client | None = None

    def in_background(self) -> SiteSetup:
        """This site as background work uses it (a backfill's replays): its reads and writes
        wait on the budget's lowest lane."""
        return replace(
            self,
            optimove=self.optimove_background or self.optimove,
            comm100=self.comm100_background or self.comm100,
        )

    @property
    def settings(self) -> SiteSettings:
        return self.stored.settings

    @property
    def account(self) -> str:
        """The Optimove account: its Base URL and a digest of its key."""
        digest = hashlib.sha256((self.stored.optimove_api_key or "-").encode()).hexdigest()
        return f"{self.settings.optimove.base_url}|{digest[:32]}"

    @property
    def field_types(self) -> dict[str, str | None]:
        """Each listed attribute's type, as far as it is known."""
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
        learned = self.details.get(self.account, name)
        if learned is None or listed is None:
            return listed or learned
        return replace(
            listed,
            alias=listed.alias or learned.alias,
            field_type=listed.field_type or learned.field_type,
        )

    def learn(self, customer: CustomerAttributes) -> None:
        """Remember the aliases and types a customer read gave."""
        self.details.learn(self.account, customer)

    def knows_details(self, names: Sequence[str]) -> bool:
        """Whether the labels and types of these fields are known (else a read teaches them)."""
        if self.details.has_read(self.account):
            return True
        attributes = [self.attribute(name) for name in names]
        return all(a is not None and a.field_type is not None for a in attributes)

    def require_optimove(self) -> OptimoveClient:
        if self.optimove is None:
            raise NotConnected()
        return self.optimove


def load_site(
    runtime: Runtime,
    site_id: int,
    *,
    lane: Lane,
    with_attributes: bool = True,
    comm100_clients: dict[tuple[Any, ...], Comm100Client] | None = None,
) -> SiteSetup:
    """The site, with clients whose calls wait as `lane` may. `comm100_clients` lets a caller
    keep Comm100 clients across loads (each caches the site's contact-field names)."""
    stored = load_settings(runtime, site_id)
    settings = stored.settings
    optimove: OptimoveClient | None = None
    if settings.optimove.base_url and stored.optimove_api_key:
        optimove = _optimove_client(
            runtime, settings.optimove.base_url, stored.optimove_api_key, lane
        )
    comm100: Comm100Client | None = None
    comm100_background: Comm100Client | None = None
    section = settings.comm100
    if section.api_base_url and section.agent_email and stored.comm100_api_key:
        connection = (section.api_base_url, section.agent_email, stored.comm100_api_key, site_id)
        comm100 = _kept(
            comm100_clients,
            (lane, *connection),
            lambda: _comm100_client(runtime, *connection, lane),
        )
        if lane == "engine":
            comm100_background = _kept(
                comm100_clients,
                ("engine, background", *connection),
                lambda: runtime.comm100_client(*connection, priority="background"),
            )
    callback_base: str | None = None
    if runtime.config.public_url:
        with runtime.unit_of_work(read_only=True) as session:
            urls = webhook_urls(runtime.box, get_site(session, site_id), runtime.config.public_url)
        callback_base = urls.optimove_callback
    setup = SiteSetup(site_id, stored, [], callback_base, optimove, comm100)
    setup.comm100_background = comm100_background
    if lane == "engine" and settings.optimove.base_url and stored.optimove_api_key:
        setup.optimove_background = runtime.optimove_client(
            settings.optimove.base_url, stored.optimove_api_key, priority="background"
        )
    if with_attributes:
        setup.attributes = load_attributes(runtime, setup, lane=lane)
    return setup


def _kept(
    clients: dict[tuple[Any, ...], Comm100Client] | None,
    key: tuple[Any, ...],
    make: Callable[[], Comm100Client],
) -> Comm100Client:
    """The client kept under `key` (each caches the site's contact-field names), else a new one,
    kept from now on."""
    client = clients.get(key) if clients is not None else None
    if client is None:
        client = make()
        if clients is not None:
            clients[key] = client
    return client


def load_attributes(runtime: Runtime, setup: SiteSetup, *, lane: Lane) -> list[AttributeInfo]:
    """The account's attribute list, as cached for everyone. The engine and a preview need it
    (a failure is raised: records wait, a preview says why); an agent can do with the last
    list known, else none (labels then fall back to field names)."""
    client = setup.optimove
    if client is None:
        return []
    connection = optimove_connection(setup.stored)
    if lane != "agent":
        attributes, _cached = fetch_attributes(
            runtime, setup.site_id, connection, saved=True, client=client
        )
        return attributes
    with runtime.unit_of_work(read_only=True) as session:
        known = AttributeCacheRepository(session).fresh(setup.site_id, math.inf)
    try:
        attributes, _cached = fetch_attributes(
            runtime, setup.site_id, connection, saved=True, client=client
        )
    except OptimoveError as error:
        log.info("attribute_list_unavailable", site_id=setup.site_id, error=str(error))
        return [AttributeInfo(**item) for item in known or []]
    return attributes


# --- clients, as each lane may wait ---------------------------------------------------------------


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


class _BoundedLimiter:
    """The shared limiter, through which a caller of `priority` (an agent, a preview) waits at
    most `max_wait_s` for a slot."""

    def __init__(
        self,
        limiter: RateLimiter,
        max_wait_s: float,
        busy: Callable[[float], Exception],
        priority: Priority = "agent",
    ) -> None:
        self._limiter = limiter
        self._max_wait_s = max_wait_s
        self._busy = busy
        self._priority: Priority = priority

    def take_slot(self, bucket: str) -> Slot:
        try:
            return self._limiter.take_slot(
                bucket, max_wait_s=self._max_wait_s, priority=self._priority
            )
        except LimiterBusy as busy:
            raise self._busy(busy.retry_after_s) from None

    def answered(self, slot: Slot) -> None:
        self._limiter.answered(slot)

    def record_throttled(self, bucket: str) -> None:
        self._limiter.record_throttled(bucket)


def comm100_agent_limiter(runtime: Runtime) -> SlotLimiter:
    """The Comm100 limiter as an agent waits on it (a sign-in, a read for the tab)."""
    return _BoundedLimiter(runtime.comm100_limiter, AGENT_MAX_WAIT_S, Comm100Busy)


def _bounded(lane: Lane) -> tuple[Priority, float]:
    """The priority and the longest wait for a slot of a lane whose caller is waiting."""
    return (
        ("background", BACKGROUND_MAX_WAIT_S)
        if lane == "background"
        else ("agent", AGENT_MAX_WAIT_S)
    )


def interactive_optimove_client(runtime: Runtime, base_url: str, api_key: str) -> OptimoveClient:
    """A client for calls an administrator waits on: fewer attempts and a shorter timeout than
    the engine's (`OPTIBRIDGE_INTERACTIVE_TIMEOUT_S`, `_MAX_ATTEMPTS`), so a connection test
    answers within about ten seconds with the reason, even from a host that never answers."""
    config = runtime.config
    return OptimoveClient(
        base_url,
        api_key,
        limiter=_BoundedLimiter(runtime.limiter, INTERACTIVE_MAX_WAIT_S, OptimoveBusy),
        own_groups=parse_group_limits(config.optimove_group_limits).keys(),
        timeout_s=min(config.optimove_timeout_s, config.interactive_timeout_s),
        max_attempts=min(config.optimove_max_attempts, config.interactive_max_attempts),
        max_retry_after_s=INTERACTIVE_MAX_WAIT_S,
        http=runtime.http,
        on_call=partial(observe_optimove_call, priority="agent"),
    )


def interactive_comm100_client(
    runtime: Runtime, api_base_url: str, agent_email: str, api_key: str, site_id: int
) -> Comm100Client:
    """The Comm100 client for calls an administrator waits on (`interactive_optimove_client`)."""
    config = runtime.config
    return Comm100Client(
        api_base_url,
        agent_email,
        api_key,
        site_id,
        limiter=_BoundedLimiter(runtime.comm100_limiter, INTERACTIVE_MAX_WAIT_S, Comm100Busy),
        timeout_s=min(config.comm100_timeout_s, config.interactive_timeout_s),
        max_attempts=config.interactive_max_attempts,
        max_retry_after_s=INTERACTIVE_MAX_WAIT_S,
        http=runtime.http,
    )


def _optimove_client(runtime: Runtime, base_url: str, api_key: str, lane: Lane) -> OptimoveClient:
    if lane == "engine":
        return runtime.optimove_client(base_url, api_key)
    config = runtime.config
    priority, max_wait_s = _bounded(lane)
    return OptimoveClient(
        base_url,
        api_key,
        limiter=_BoundedLimiter(runtime.limiter, max_wait_s, OptimoveBusy, priority),
        own_groups=parse_group_limits(config.optimove_group_limits).keys(),
        timeout_s=min(config.optimove_timeout_s, AGENT_TIMEOUT_S),
        max_attempts=min(config.optimove_max_attempts, AGENT_MAX_ATTEMPTS),
        http=runtime.http,
        on_call=partial(observe_optimove_call, priority=priority),
    )


def _comm100_client(
    runtime: Runtime, api_base_url: str, agent_email: str, api_key: str, site_id: int, lane: Lane
) -> Comm100Client:
    if lane == "engine":
        return runtime.comm100_client(api_base_url, agent_email, api_key, site_id)
    config = runtime.config
    priority, max_wait_s = _bounded(lane)
    return Comm100Client(
        api_base_url,
        agent_email,
        api_key,
        site_id,
        limiter=_BoundedLimiter(runtime.comm100_limiter, max_wait_s, Comm100Busy, priority),
        timeout_s=min(config.comm100_timeout_s, AGENT_TIMEOUT_S),
        max_attempts=AGENT_MAX_ATTEMPTS,
        http=runtime.http,
    )
