"""The console's view of a site: its settings, its vendors and what they may cost an agent.

An agent is waiting on every call the tab makes, so the console talks to Optimove and Comm100
through clients of its own: the same shared limiters as the worker (the budget is one), but a
slot must come within `MAX_LIMITER_WAIT_S` (else a 429 `busy`), timeouts are shorter and
retries fewer. Their failures reach the agent as plain sentences (`for_agents`); the details
go to the sync log.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from optibridge.comm100 import errors as comm100_errors
from optibridge.comm100.webhooks import (
    WebhookShapeError,
    parse_livechat_webhook,
    parse_ticket_trigger,
)
from optibridge.console.session import ConsoleCaller, require_console_access
from optibridge.domain.context import ConversationContext
from optibridge.domain.records import Channel
from optibridge.errors import AppError, Invalid, Problem
from optibridge.logs import get_logger
from optibridge.optimove import errors as optimove_errors
from optibridge.optimove.errors import OptimoveError
from optibridge.runtime import Runtime
from optibridge.sync.sites import (
    NOT_CONNECTED as NOT_CONNECTED,
)
from optibridge.sync.sites import (
    Comm100Busy,
    NotConnected,
    OptimoveBusy,
    SiteSetup,
    get_site,
)

log = get_logger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

LOOKUP_EVENT = "console_lookup"


# --- errors an agent can act on ------------------------------------------------------------


class CreationNotAllowed(AppError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], 403, "creation_not_allowed")


class NeedsContact(AppError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], 409, "needs_contact")


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


def check_access(runtime: Runtime, caller: ConsoleCaller, site_id: int) -> None:
    require_console_access(caller.principal, site_id)
    with runtime.unit_of_work(read_only=True) as session:
        get_site(session, site_id)


def completed_context(site: SiteSetup, host: HostContext) -> ConversationContext:
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
