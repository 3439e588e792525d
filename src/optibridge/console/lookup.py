"""Lookup and Refresh (SPEC 1 agent stories 1-3, 6): who the customer of the conversation is,
and what the tab shows of them, or plainly why nothing can be shown.

The customer is identified by the channel's rules, then by the remembered link; read through the
engine (from the read cache when fresh, so the chat-end decision that follows is free; *Refresh*
always reads Optimove). When Optimove can't be read, the last known data is shown, marked stale.
Every lookup is a sync record of agent activity, with the read it made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from optibridge.config import Config
from optibridge.console.session import ConsoleCaller, check_access
from optibridge.console.views import (
    ConsoleView,
    as_read,
    asks,
    create_offer,
    matched_message,
    needs_contact_message,
    not_enabled_message,
    policy_of,
    shown_fields,
    unidentified_message,
)
from optibridge.domain.context import ConversationContext
from optibridge.domain.identify import Identification, identify
from optibridge.domain.records import Channel
from optibridge.domain.settings import ChannelSettings, EventPolicy, customer_url
from optibridge.errors import AppError
from optibridge.runtime import Runtime
from optibridge.sync.agents import (
    agent_message,
    completed_context,
    for_agents,
    linked_customer_of,
    read_host_context,
    record_lookup,
)
from optibridge.sync.customers import CustomerRead, read_customer, recording_reads
from optibridge.sync.sites import NOT_CONNECTED, SiteSetup, load_attributes, load_site


@for_agents
def lookup(
    runtime: Runtime,
    site_id: int,
    caller: ConsoleCaller,
    channel: Channel,
    raw_context: Mapping[str, Any],
    *,
    refresh: bool,
) -> ConsoleView:
    """What the tab shows for this conversation; `refresh` reads Optimove, never the cache."""
    check_access(runtime, caller, site_id)
    agent = caller.agent
    host = read_host_context(channel, raw_context)
    site = load_site(runtime, site_id, lane="agent", with_attributes=False)
    section = site.settings.channel(channel)
    policy = policy_of(section, channel)
    if not section.enabled:
        message = not_enabled_message(channel)
        record_lookup(
            runtime, agent, site_id, host, host.context, outcome="skipped", reason=message
        )
        return ConsoleView(channel, "disabled", message)
    if site.optimove is None:
        record_lookup(
            runtime,
            agent,
            site_id,
            host,
            host.context,
            outcome="failed",
            reason=None,
            error=NOT_CONNECTED,
        )
        return ConsoleView(channel, "not_connected", NOT_CONNECTED)
    site.attributes = load_attributes(runtime, site, lane="agent")
    try:
        context = completed_context(site, host)
    except AppError as error:
        why = f"the ticket's requester could not be read: {error}"
        record_lookup(
            runtime, agent, site_id, host, host.context, outcome="failed", reason=None, error=why
        )
        raise
    identification = identify(
        section.identification, context, linked_customer_of(runtime, site_id, context)
    )
    if identification.customer_id is None:
        view, outcome, reason = _unidentified_view(
            site, section, policy, channel, context, identification
        )
        record_id = record_lookup(
            runtime, agent, site_id, host, context, outcome=outcome, reason=reason
        )
        return replace(view, record_id=record_id)

    customer_id = identification.customer_id
    shown = [m.optimove_field for m in section.field_mapping if m.show_in_console]
    with recording_reads() as attempts:
        try:
            read = read_customer(
                runtime,
                site,
                customer_id,
                max_age_s=runtime.config.customer_cache_ttl_s,
                refresh=refresh,
                stale_ok=True,
                details_of=shown,
            )
        except AppError as error:
            reason = f"customer {customer_id} could not be read from Optimove, and none was known"
            record_lookup(
                runtime,
                agent,
                site_id,
                host,
                context,
                outcome="failed",
                reason=reason,
                customer_id=customer_id,
                error=str(error),
                calls=attempts.calls(last_detail=str(error)),
            )
            raise
    view, outcome, reason = _identified_view(
        site, section, policy, channel, context, identification, read
    )
    if view.notice is None:
        view = replace(view, notice=budget_wait_notice(runtime.config, attempts.waited_s))
    record_id = record_lookup(
        runtime,
        agent,
        site_id,
        host,
        context,
        outcome="failed" if read.error else outcome,
        reason=reason,
        customer_id=customer_id,
        read=read,
        error=str(read.error) if read.error else None,
    )
    return replace(view, record_id=record_id)


# An answer that waited this long for Optimove's budget says so (`budget_wait_notice`).
BUDGET_WAIT_NOTICE_S = 1.0


def _unidentified_view(
    site: SiteSetup,
    section: ChannelSettings,
    policy: EventPolicy,
    channel: Channel,
    context: ConversationContext,
    identification: Identification,
) -> tuple[ConsoleView, str, str]:
    """What the tab shows when no customer id is known; with the outcome and reason."""
    if context.requester_is_visitor:
        view = ConsoleView(channel, "needs_contact", needs_contact_message(None))
        return view, "needs_contact", view.message
    offer = create_offer(site, section, policy, channel, context, identification, None)
    view = ConsoleView(
        channel,
        "unidentified",
        unidentified_message(channel, identification, offer),
        missing=asks(identification.missing),
        create=offer,
    )
    reason = (
        "shown to the agent: no identification rule gave a value"
        f" ({identification.missing_description()})"
    )
    return view, "unidentified", reason


def _identified_view(
    site: SiteSetup,
    section: ChannelSettings,
    policy: EventPolicy,
    channel: Channel,
    context: ConversationContext,
    identification: Identification,
    read: CustomerRead,
) -> tuple[ConsoleView, str, str]:
    """What the tab shows for a customer id and its read; with the outcome and reason."""
    customer_id = identification.customer_id
    assert customer_id is not None
    notice = (
        f"{agent_message(read.error)} Showing the last known data, which may be out of date."
        if read.error is not None
        else None
    )
    if read.attributes is not None:
        view = ConsoleView(
            channel,
            "matched",
            matched_message(identification, channel),
            customer_id=customer_id,
            customer_url=customer_url(site.settings, customer_id),
            fields=shown_fields(site, section.field_mapping, read.attributes),
        )
        reason = f"customer {customer_id} shown to the agent" + (
            " (last known data: Optimove could not be read)" if read.stale else ""
        )
        return as_read(view, read, notice), "unchanged", reason
    if context.requester_is_visitor:
        message = needs_contact_message(customer_id)
        view = ConsoleView(channel, "needs_contact", message, customer_id=customer_id)
        return as_read(view, read, notice), "needs_contact", message
    offer = create_offer(site, section, policy, channel, context, identification, customer_id)
    view = ConsoleView(
        channel,
        "no_match",
        f"No Optimove customer has the id {customer_id}. {offer.reason}",
        customer_id=customer_id,
        create=offer,
    )
    reason = f"customer {customer_id} is not in Optimove (shown to the agent)"
    return as_read(view, read, notice), "no_match", reason


def budget_wait_notice(config: Config, waited: float) -> str | None:
    """Said to the agent when Optimove's budget, not Optimove, made the answer slow: its calls
    `waited` `BUDGET_WAIT_NOTICE_S` or more for a slot (SPEC 4.5: the console says plainly when
    Optimove is the bottleneck)."""
    if waited < BUDGET_WAIT_NOTICE_S:
        return None
    return (
        f"Optimove is busy: this answer waited {waited:.1f} s for its turn (Optimove takes"
        f" {config.optimove_rate_limit} calls per {config.optimove_rate_window_s:g} seconds;"
        " agents go first)."
    )
