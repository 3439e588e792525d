"""A preview (SPEC 4.7): candidate settings decided over a channel's recent conversations, from
Optimove's current data, with nothing written.

The conversations are the site's newest sync records of the events the channel acts on; each
keeps the conversation as Comm100's webhook described it (its `context`). Each is identified
and decided by the domain's rules with the candidate settings (`domain/preview.py`), its
customer read by the engine's one read (`sync/customers.py`: the read cache when fresh, else one
Optimove call), a ticket's requester read from Comm100 as the worker does.

Every vendor call waits on the budget's lowest priority, `background`, and for at most
`BACKGROUND_MAX_WAIT_S` (`sync/sites.py`): when no slot comes that soon, because agents and live
events are using the budget, the preview stops there and says so (`limited_by_budget`).

Nothing is written: no call to Optimove but reads, no sync record, and not even the read cache
(a preview holds no customer, so a read it made could be older than a write confirmed
meanwhile, and the cache must never go back in time).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from optibridge.comm100.errors import Comm100Error
from optibridge.domain.context import ConversationContext
from optibridge.domain.decide import Plan
from optibridge.domain.preview import (
    CONVERSATION_EVENTS,
    Conversation,
    identify_conversation,
    needs_customer,
    preview_plan,
)
from optibridge.domain.records import Channel
from optibridge.domain.settings import ChannelSettings, SiteSettings
from optibridge.optimove.errors import OptimoveError
from optibridge.runtime import Runtime
from optibridge.store.customer_memory import linked_customer
from optibridge.store.sync_log import SyncLogRepository
from optibridge.sync.customers import read_customer
from optibridge.sync.sites import (
    Comm100Busy,
    NotConnected,
    OptimoveBusy,
    SiteSetup,
    get_site,
    load_site,
)


@dataclass(frozen=True)
class PastConversation:
    """A recent conversation as its sync record keeps it."""

    record_id: int
    event: str
    received_at: datetime
    comm100_ids: dict[str, Any]
    context: dict[str, Any]
    recorded_outcome: str | None  # what happened when it arrived (None: not decided yet)


@dataclass(frozen=True)
class PreviewedConversation:
    conversation: PastConversation
    plan: Plan | None  # None when it could not be decided (`error` says why)
    error: str | None = None
    optimove_reads: int = 0  # Optimove calls made for it (0: the read cache answered, or none)


@dataclass(frozen=True)
class Preview:
    channel: Channel
    found: int  # recent conversations found (at most the limit asked)
    previewed: tuple[PreviewedConversation, ...]
    limited_by_budget: bool  # stopped before the end: no slot of Optimove's (or Comm100's) soon
    budget_note: str | None = None  # what the budget left out, in words

    @property
    def optimove_reads(self) -> int:
        return sum(item.optimove_reads for item in self.previewed)


def preview_settings(
    runtime: Runtime, site_id: int, settings: SiteSettings, channel: Channel, limit: int
) -> Preview:
    """What `settings` would do to the channel's `limit` newest conversations (nothing written).

    The site's saved connections are used (the caller checks that `settings` has them)."""
    conversations = recent_conversations(runtime, site_id, channel, limit)
    if not conversations:
        return Preview(channel, 0, (), False)
    try:
        setup = load_site(runtime, site_id, lane="background")
    except (OptimoveBusy, Comm100Busy):
        return _limited(channel, conversations, ())
    if setup.optimove is None:
        raise NotConnected()
    setup.stored = replace(setup.stored, settings=settings)
    section = settings.channel(channel)
    previewed: list[PreviewedConversation] = []
    for conversation in conversations:
        try:
            previewed.append(_preview_one(runtime, setup, section, channel, conversation))
        except (OptimoveBusy, Comm100Busy):
            return _limited(channel, conversations, tuple(previewed))
    return Preview(channel, len(conversations), tuple(previewed), False)


def recent_conversations(
    runtime: Runtime, site_id: int, channel: Channel, limit: int
) -> list[PastConversation]:
    """The channel's `limit` newest conversations in the sync log, newest first (404 for a site
    that does not exist)."""
    with runtime.unit_of_work(read_only=True) as session:
        get_site(session, site_id)
        records = SyncLogRepository(session).newest_of_events(
            site_id, channel, CONVERSATION_EVENTS[channel], limit
        )
        return [
            PastConversation(
                record_id=record.id,
                event=record.event,
                received_at=record.received_at,
                comm100_ids=dict(record.comm100_ids or {}),
                context=dict(record.context or {}),
                recorded_outcome=record.outcome,
            )
            for record in records
        ]


def _preview_one(
    runtime: Runtime,
    setup: SiteSetup,
    section: ChannelSettings,
    channel: Channel,
    past: PastConversation,
) -> PreviewedConversation:
    """One conversation decided; a vendor's refusal about it (not a failing vendor) is shown
    on its row. Busy lanes are raised for the caller to stop."""
    try:
        context = ConversationContext.from_json(past.context)
    except (KeyError, TypeError, ValueError):
        return PreviewedConversation(past, None, "its stored conversation can't be read")
    acts = section.enabled and section.policy(past.event) is not None
    if channel == "ticketing" and acts:
        try:
            context = _with_requester(setup, past, context)
        except Comm100Error as error:
            if error.retryable:
                raise
            return PreviewedConversation(past, None, f"Comm100: {error.message}")
        except NotConnected as error:
            return PreviewedConversation(past, None, error.message)
    with runtime.unit_of_work(read_only=True) as session:
        linked = (
            linked_customer(session, setup.site_id, context.subject_kind, context.subject_id)
            if context.subject_kind and context.subject_id
            else None
        )
    conversation = Conversation(past.event, context, linked)
    identification = identify_conversation(section, conversation)
    current: dict[str, str | None] | None = None
    reads = 0
    if needs_customer(section, conversation, identification):
        assert identification.customer_id is not None
        try:
            read = read_customer(
                runtime,
                setup,
                identification.customer_id,
                max_age_s=runtime.config.customer_cache_ttl_s,
            )
        except OptimoveError as error:
            if error.retryable:
                raise
            return PreviewedConversation(past, None, f"Optimove: {error.message}")
        current, reads = read.attributes, len(read.calls)
    # After the read: it may have taught field types the attribute list lacks.
    plan = preview_plan(section, conversation, identification, current, setup.field_types)
    return PreviewedConversation(past, plan, None, reads)


def _with_requester(
    setup: SiteSetup, past: PastConversation, context: ConversationContext
) -> ConversationContext:
    """A ticket's requester read from Comm100 (its contact fields and identities), as the
    worker reads it."""
    if context.subject_kind == "visitor":
        return context
    if setup.comm100 is None:
        raise NotConnected(
            "The Comm100 connection is not set up (API base, agent e-mail, API key), so the"
            " ticket's contact can't be read."
        )
    ticket_id = past.comm100_ids.get("ticket_id")
    return setup.comm100.complete_ticket_context(
        context, str(ticket_id) if ticket_id is not None else None
    )


def _limited(
    channel: Channel,
    conversations: list[PastConversation],
    previewed: tuple[PreviewedConversation, ...],
) -> Preview:
    shown, found = len(previewed), len(conversations)
    note = (
        f"Only {shown} of the {found} most recent conversations could be previewed: the API"
        " budget is being used by agents and live events right now, and a preview only uses"
        " what they leave. Try again in a few seconds."
    )
    return Preview(channel, found, previewed, True, note)
