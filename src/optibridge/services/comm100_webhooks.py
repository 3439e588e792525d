"""The Live Chat webhooks this service needs in Comm100, registered through its API (SPEC 5.2).

Needed: `chatEnds` and `offlineMessageIsSubmitted`, both pointing at the site's Live Chat
webhook URL of this deployment. Each is, in Comm100:

- `registered`: a webhook for the event points at that URL;
- `missing`: no webhook for the event at all;
- `elsewhere`: webhooks for the event exist, but none points at that URL.

Whose is a webhook? One whose target carries this site's webhook path and secret token is this
service's, whatever the address in front of it (an older public URL of this deployment, or the
ticketing URL pasted by mistake): registering points it at the current URL, and deleting the
site removes it. Any other target may be another integration's: it is left in place, and said
so, unless the administrator asks to replace it (`replace_elsewhere`). Registering is
idempotent: what is registered is never created again.

The ticket trigger can't be registered: Comm100 publishes no field names for a trigger's
webhook action, so it is reported as `manual`, with the steps to take by hand.

The URLs carry the site's secret token: they are never logged nor put in a message, and other
targets are reported by their origin only (they may carry another integration's secret). No
outside call is made inside a database transaction.
"""

from __future__ import annotations

import hmac
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import httpx

from optibridge.comm100.client import Comm100Client
from optibridge.comm100.errors import Comm100Error, NotFoundError
from optibridge.comm100.webhook_registrations import LiveChatWebhook
from optibridge.domain.urls import url_problem
from optibridge.errors import Invalid, Problem
from optibridge.logs import get_logger
from optibridge.runtime import Runtime
from optibridge.services.comm100_connection import Comm100Connection, comm100_connection
from optibridge.sync.sites import get_site, load_settings, webhook_token, webhook_urls

log = get_logger(__name__)

# (event as the API spells it, its name in Comm100's control panel)
NEEDED_EVENTS: tuple[tuple[str, str], ...] = (
    ("chatEnds", "Chat Ended"),
    ("offlineMessageIsSubmitted", "Offline Message Submitted"),
)
TICKET_TRIGGER_EVENT = "whenTicketIsCreated"

WebhookState = Literal["registered", "missing", "elsewhere"]


@dataclass(frozen=True)
class EventWebhook:
    """One needed Live Chat event: its state in Comm100 and what that means, in words."""

    event: str
    name: str
    state: WebhookState
    message: str
    # Where the event's other webhooks point, by origin (`https://host`), ours at an older
    # address included.
    elsewhere: tuple[str, ...]
    # Whether registering would change something (not counting others' webhooks replaced).
    repairable: bool


@dataclass(frozen=True)
class TicketTrigger:
    """The ticket trigger, which can only be set up by hand: why, then the steps, in words."""

    message: str
    steps: tuple[str, ...]
    state: Literal["manual"] = "manual"
    event: str = TICKET_TRIGGER_EVENT


@dataclass(frozen=True)
class WebhookReport:
    livechat: tuple[EventWebhook, ...]
    ticket_trigger: TicketTrigger
    changed: tuple[str, ...] = ()  # what a registration did, in words
    warning: str | None = None  # why Comm100 may not reach this service's address

    @property
    def all_registered(self) -> bool:
        return all(event.state == "registered" for event in self.livechat)

    @property
    def repairable(self) -> bool:
        return any(event.repairable for event in self.livechat)


@dataclass(frozen=True)
class WebhookRemoval:
    """What deleting a site did to its webhooks in Comm100."""

    removed: tuple[str, ...]  # events whose webhooks of ours were removed
    left: tuple[str, ...] | None  # events whose webhooks of ours are still there; None: unknown
    problem: str | None = None  # why some were left

    @property
    def complete(self) -> bool:
        return self.left == ()


def ticket_trigger(site_id: int) -> TicketTrigger:
    steps = (
        "In Comm100's control panel, open Ticketing & Messaging > Triggers and add a trigger.",
        'As its event choose "When a ticket is created", with no other condition.',
        "As its action choose a webhook, method POST, and as its URL this site's Ticketing "
        "URL (shown under Webhook URLs for Comm100 in the control panel, or by "
        f"GET /api/v1/sites/{site_id}/webhooks).",
        "Save the trigger and make sure it is enabled.",
    )
    return TicketTrigger(
        "Set up by hand: Comm100 does not publish the API fields of a trigger's webhook "
        f"action. {' '.join(steps)}",
        steps,
    )


# --- whose webhook is it ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Ours:
    """This site's Live Chat webhook URL, and how to recognise any URL of this site's."""

    site_id: int
    url: str
    token: str

    def current(self, target: str | None) -> bool:
        return target is not None and _same_url(target, self.url)

    def owns(self, target: str | None) -> bool:
        """A URL carrying this site's webhook path and token, at whatever address."""
        url = _parsed(target)
        if url is None or f"/webhooks/comm100/{self.site_id}/" not in url.path:
            return False
        return hmac.compare_digest(url.params.get("token", "").encode(), self.token.encode())

    def scrubbed(self, message: str) -> str:
        for secret, label in ((self.url, "[webhook URL]"), (self.token, "[secret]")):
            if secret:
                message = message.replace(secret, label)
        return message


def _parsed(target: str | None) -> httpx.URL | None:
    if not target:
        return None
    try:
        return httpx.URL(target.strip())
    except httpx.InvalidURL:
        return None


def _same_url(a: str, b: str) -> bool:
    """The same address: scheme and host in any case, a default port written or not, the same
    path and the same query parameters in any order."""
    x, y = _parsed(a), _parsed(b)
    if x is None or y is None:
        return False

    def key(url: httpx.URL) -> tuple[object, ...]:
        scheme = url.scheme.lower()
        port = url.port or {"http": 80, "https": 443}.get(scheme)
        return scheme, url.host.lower(), port, url.path, sorted(url.params.multi_items())

    return key(x) == key(y)


def _origin(target: str | None) -> str:
    url = _parsed(target)
    if url is None or not url.host:
        return "an address that is not a web address"
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}"


@dataclass(frozen=True)
class _Split:
    """One event's webhooks: at our URL, ours at another address, anyone else's."""

    current: tuple[LiveChatWebhook, ...]
    older: tuple[LiveChatWebhook, ...]
    foreign: tuple[LiveChatWebhook, ...]


def _split(webhooks: Sequence[LiveChatWebhook], event: str, ours: _Ours) -> _Split:
    of_event = [w for w in webhooks if w.event == event]
    current = tuple(w for w in of_event if ours.current(w.target_url))
    older = tuple(w for w in of_event if w not in current and ours.owns(w.target_url))
    foreign = tuple(w for w in of_event if w not in current and w not in older)
    return _Split(current, older, foreign)


# --- the report -------------------------------------------------------------------------------


def _origins(webhooks: Sequence[LiveChatWebhook]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_origin(w.target_url) for w in webhooks))


def _event_report(
    webhooks: Sequence[LiveChatWebhook], event: str, name: str, ours: _Ours
) -> EventWebhook:
    split = _split(webhooks, event, ours)
    others = _origins((*split.older, *split.foreign))
    if split.current:
        message = f"Registered: Comm100 sends {name} to this service."
        if split.foreign:
            count = len(split.foreign)
            message += (
                f" {count} other webhook{'s' if count > 1 else ''} for this event "
                f"(to {', '.join(_origins(split.foreign))}) may be another integration's: "
                "left in place."
            )
        if split.older:
            message += (
                " An older address of this service is registered too: registering again removes it."
            )
        return EventWebhook(event, name, "registered", message, others, bool(split.older))
    if split.older:
        message = (
            f"Elsewhere: {name} goes to an older address of this service "
            f"({', '.join(_origins(split.older))}). Registering points it here."
        )
    elif split.foreign:
        message = (
            f"Elsewhere: Comm100 sends {name} to {', '.join(others)}, not to this service. That "
            "webhook may be another integration's: registering adds this service's beside it and "
            "leaves it in place, unless you ask to replace it."
        )
    else:
        message = f"Missing: no webhook for {name}, so these events never reach this service."
        return EventWebhook(event, name, "missing", message, (), True)
    return EventWebhook(event, name, "elsewhere", message, others, True)


def _report(
    webhooks: Sequence[LiveChatWebhook],
    ours: _Ours,
    changed: Sequence[str] = (),
    warning: str | None = None,
) -> WebhookReport:
    return WebhookReport(
        livechat=tuple(_event_report(webhooks, event, name, ours) for event, name in NEEDED_EVENTS),
        ticket_trigger=ticket_trigger(ours.site_id),
        changed=tuple(changed),
        warning=warning,
    )


# --- reading, registering, removing -----------------------------------------------------------


@dataclass(frozen=True)
class _Site:
    connection: Comm100Connection
    ours: _Ours
    warning: str | None


def _site(runtime: Runtime, site_id: int, public_url: str) -> _Site:
    """The saved connection (422 when there is none) and this site's URL (404: no such site)."""
    connection = comm100_connection(runtime, load_settings(runtime, site_id))
    with runtime.unit_of_work(read_only=True) as session:
        site = get_site(session, site_id)
        url = webhook_urls(runtime.box, site, public_url).livechat
        token = webhook_token(runtime.box, site)
    return _Site(connection, _Ours(site_id, url, token), _unreachable(connection, public_url))


def _unreachable(connection: Comm100Connection, public_url: str) -> str | None:
    """Why a Comm100 on the internet can't reach `public_url`; None when it can (or when this
    Comm100 is itself local, like the sandbox)."""
    if url_problem(connection.api_base_url, base=True, allow_private=False) is not None:
        return None
    # Comm100 calls plain http as well as https.
    problem = url_problem(
        re.sub(r"^http://", "https://", public_url, flags=re.IGNORECASE),
        base=True,
        allow_private=False,
    )
    if problem is None:
        return None
    return (
        f"This service's address ({_origin(public_url)}) {problem}, so Comm100 can't deliver "
        "webhooks to it. Set OPTIBRIDGE_PUBLIC_URL to the address Comm100 reaches this service "
        "at, restart it, and register the webhooks again."
    )


@contextmanager
def _client(runtime: Runtime, site_id: int, site: _Site) -> Iterator[Comm100Client]:
    """A client of the site's Comm100; its errors never carry this site's URL or token."""
    connection = site.connection
    try:
        with runtime.comm100_client(
            connection.api_base_url, connection.agent_email, connection.api_key, site_id
        ) as client:
            yield client
    except Comm100Error as error:
        error.message = site.ours.scrubbed(error.message)
        error.args = (error.message,)
        raise


def webhook_report(runtime: Runtime, site_id: int, public_url: str) -> WebhookReport:
    """Each needed webhook's state in Comm100 now (one call); Comm100's errors raise."""
    site = _site(runtime, site_id, public_url)
    with _client(runtime, site_id, site) as client:
        webhooks = client.livechat_webhooks()
    return _report(webhooks, site.ours, warning=site.warning)


_locks_guard = threading.Lock()
_locks: dict[int, threading.Lock] = {}


def _registering(site_id: int) -> threading.Lock:
    """One registration per site at a time in this process (a double click creates once)."""
    with _locks_guard:
        return _locks.setdefault(site_id, threading.Lock())


def register_webhooks(
    runtime: Runtime, site_id: int, public_url: str, *, replace_elsewhere: bool = False
) -> WebhookReport:
    """Register (or repair) the needed webhooks; what is registered already is left alone.

    Per event, when none points at this service: ours at an older address is pointed here,
    else (asked to replace) one of the others is, else one is created. Ours at older addresses
    beyond that are removed; so are the others, when asked to replace them. 422 when Comm100
    could not reach this service's address at all.
    """
    site = _site(runtime, site_id, public_url)
    if site.warning is not None:
        raise Invalid(site.warning, [Problem("", site.warning)])
    changed: list[str] = []
    with _registering(site_id), _client(runtime, site_id, site) as client:
        webhooks = client.livechat_webhooks()
        for event, name in NEEDED_EVENTS:
            webhooks = _register_event(
                client, webhooks, event, name, site.ours, replace_elsewhere, changed
            )
    if changed:
        log.info("comm100_webhooks_registered", site_id=site_id, changed=len(changed))
    return _report(webhooks, site.ours, changed)


def _register_event(
    client: Comm100Client,
    webhooks: list[LiveChatWebhook],
    event: str,
    name: str,
    ours: _Ours,
    replace_elsewhere: bool,
    changed: list[str],
) -> list[LiveChatWebhook]:
    """The webhooks after making `event` point here; `changed` gets what was done."""
    split = _split(webhooks, event, ours)
    older, foreign = list(split.older), list(split.foreign)
    if not split.current:
        reusable = [w for w in (*older, *(foreign if replace_elsewhere else ())) if w.id]
        moved = None
        for candidate in reusable[:1]:
            try:
                moved = client.update_livechat_webhook(str(candidate.id), event, ours.url)
            except NotFoundError:  # removed since it was listed
                webhooks = [w for w in webhooks if w is not candidate]
            else:
                webhooks = [moved if w is candidate else w for w in webhooks]
                changed.append(
                    f"{name}: pointed the webhook to {_origin(candidate.target_url)} at this "
                    "service."
                )
            older = [w for w in older if w is not candidate]
            foreign = [w for w in foreign if w is not candidate]
        if moved is None:
            webhooks = [*webhooks, client.create_livechat_webhook(event, ours.url)]
            changed.append(f"{name}: registered.")
    for webhook in (*older, *(foreign if replace_elsewhere else ())):
        if webhook.id is not None:
            client.delete_livechat_webhook(webhook.id)
            webhooks = [w for w in webhooks if w is not webhook]
            changed.append(f"{name}: removed the webhook to {_origin(webhook.target_url)}.")
    return webhooks


def remove_site_webhooks(runtime: Runtime, site_id: int) -> WebhookRemoval:
    """Remove every Live Chat webhook of this site's (its path and token at any address), as
    far as Comm100 lets: a Comm100 failure is reported (and logged), never raised. 404 for a
    site that does not exist."""
    stored = load_settings(runtime, site_id)
    try:
        connection = comm100_connection(runtime, stored)
    except Invalid:
        return WebhookRemoval((), ())  # never connected: nothing was registered
    with runtime.unit_of_work(read_only=True) as session:
        token = webhook_token(runtime.box, get_site(session, site_id))
    ours = _Ours(site_id, "", token)
    site = _Site(connection, ours, None)
    removed: list[str] = []
    mine: list[LiveChatWebhook] | None = None
    try:
        with _client(runtime, site_id, site) as client:
            mine = [w for w in client.livechat_webhooks() if ours.owns(w.target_url)]
            for webhook in list(mine):
                if webhook.id is not None:
                    client.delete_livechat_webhook(webhook.id)
                    removed.append(webhook.event)
                    mine.remove(webhook)
    except Comm100Error as error:
        left = None if mine is None else tuple(dict.fromkeys(w.event for w in mine))
        log.warning(
            "comm100_webhooks_left",
            site_id=site_id,
            events=list(left) if left is not None else "unknown",
            reason=error.message,
        )
        return WebhookRemoval(tuple(dict.fromkeys(removed)), left, error.message)
    left = tuple(dict.fromkeys(w.event for w in mine))
    if left:  # webhooks without an id can't be removed through the API
        log.warning("comm100_webhooks_left", site_id=site_id, events=list(left), reason="no id")
        return WebhookRemoval(
            tuple(dict.fromkeys(removed)), left, "Comm100 listed them without an id."
        )
    if removed:
        log.info("comm100_webhooks_removed", site_id=site_id, events=removed)
    return WebhookRemoval(tuple(dict.fromkeys(removed)), ())
