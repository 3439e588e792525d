"""What the tab shows and says: its views, and the sentences an agent reads.

The rules behind them live in `domain/` (who the customer is, what may be created, what an edit
writes); this module only words them for an agent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

from optibridge.domain.context import CHAT_ENDED, TICKET_CREATED, ConversationContext
from optibridge.domain.decide import Change, mapped_values
from optibridge.domain.fields import describe
from optibridge.domain.identify import Identification
from optibridge.domain.records import Channel
from optibridge.domain.settings import (
    CHANNEL_NAMES,
    ChannelSettings,
    EventPolicy,
    FieldMapping,
    FieldRef,
)
from optibridge.sync.customers import CustomerRead
from optibridge.sync.sites import SiteSetup

ViewStatus = Literal[
    "matched", "no_match", "unidentified", "needs_contact", "disabled", "not_connected"
]
ChangeStatus = Literal["sent", "confirmed", "unchanged", "failed"]

# The event whose policy governs what agents may do beside a conversation of each channel.
CHANNEL_EVENT: Mapping[Channel, str] = {"livechat": CHAT_ENDED, "ticketing": TICKET_CREATED}
ORIGIN: Mapping[Channel, str] = {"livechat": "the chat", "ticketing": "the ticket"}


@dataclass(frozen=True)
class FieldView:
    field: str  # the Optimove field (RealFieldName)
    label: str  # its alias, or its name
    value: str | None
    type: str | None  # its FieldType, when the account says


@dataclass(frozen=True)
class Ask:
    """A field the conversation lacks that an agent can enter (an identification rule's)."""

    key: str  # "custom_variable:customer_id"
    source: str
    name: str
    label: str  # "custom variable 'customer_id'"


@dataclass(frozen=True)
class CreateOffer:
    allowed: bool
    reason: str
    customer_id: str | None  # known when the conversation identifies one
    asks: list[Ask] = field(default_factory=list)
    preview: list[FieldView] = field(default_factory=list)  # what the creation would write


@dataclass(frozen=True)
class ConsoleView:
    channel: Channel
    status: ViewStatus
    message: str
    customer_id: str | None = None
    customer_url: str | None = None
    fields: list[FieldView] = field(default_factory=list)
    stale: bool = False
    fetched_at: datetime | None = None
    notice: str | None = None  # why the data is stale, when it is
    missing: list[Ask] = field(default_factory=list)
    create: CreateOffer | None = None
    record_id: int | None = None


@dataclass(frozen=True)
class ConsoleChange:
    record_id: int
    status: ChangeStatus
    message: str
    customer_id: str | None
    changes: list[Change] = field(default_factory=list)
    error: str | None = None


def policy_of(section: ChannelSettings, channel: Channel) -> EventPolicy:
    policy = section.policy(CHANNEL_EVENT[channel])
    assert policy is not None  # chat_ended and ticket_created always have one
    return policy


def as_read(view: ConsoleView, read: CustomerRead, notice: str | None) -> ConsoleView:
    """The view, saying when its data was read and whether it is stale."""
    fetched_at = datetime.fromtimestamp(read.fetched_at, UTC) if read.fetched_at else None
    return replace(view, stale=read.stale, fetched_at=fetched_at, notice=notice)


def shown_fields(
    site: SiteSetup, mapping: Sequence[FieldMapping], current: Mapping[str, str | None]
) -> list[FieldView]:
    """The mapped fields marked *show in console*, in the mapping's order, with their values."""
    folded = {name.casefold(): value for name, value in current.items()}
    shown: list[FieldView] = []
    seen: set[str] = set()
    for item in mapping:
        if not item.show_in_console or item.optimove_field.casefold() in seen:
            continue
        seen.add(item.optimove_field.casefold())
        attribute = site.attribute(item.optimove_field)
        name = attribute.real_field_name if attribute else item.optimove_field
        value = current.get(name, folded.get(name.casefold()))
        label = (attribute.alias if attribute else None) or name
        shown.append(FieldView(name, label, value, attribute.field_type if attribute else None))
    return shown


def asks(refs: Sequence[FieldRef]) -> list[Ask]:
    return [Ask(answer_key(ref), ref.source, ref.name, describe(ref)) for ref in refs]


def answer_key(ref: FieldRef) -> str:
    return f"{ref.source}:{ref.name}"


def not_allowed_message(channel: Channel) -> str:
    return (
        f"Creating customers from the console is not allowed for {CHANNEL_NAMES[channel]}"
        " on this site."
    )


def create_offer(
    site: SiteSetup,
    section: ChannelSettings,
    policy: EventPolicy,
    channel: Channel,
    context: ConversationContext,
    identification: Identification,
    customer_id: str | None,
) -> CreateOffer:
    """Whether an agent may create the customer here, and what they would enter and write."""
    if policy.no_match == "never":
        return CreateOffer(False, not_allowed_message(channel), customer_id)
    values, _rejected = mapped_values(section.field_mapping, context, site.field_types)
    preview = [
        FieldView(
            name,
            ((info.alias if info else None) or name),
            value,
            info.field_type if info else None,
        )
        for name, value in values.items()
        for info in [site.attribute(name)]
    ]
    if customer_id is not None:
        return CreateOffer(True, "You can create it.", customer_id, preview=preview)
    wanted = asks(identification.missing)
    return CreateOffer(
        True,
        "You can create the customer by entering "
        + ("one of these fields." if len(wanted) > 1 else "it."),
        None,
        asks=wanted,
        preview=preview,
    )


def unidentified_message(
    channel: Channel, identification: Identification, offer: CreateOffer
) -> str:
    where = "chat" if channel == "livechat" else "ticket's contact"
    if not identification.missing:
        return "No identification rule is set for this channel: ask your administrator."
    return (
        f"This {where} doesn't say who the customer is: no value for"
        f" {identification.missing_description()}. {offer.reason}"
    )


def matched_message(identification: Identification) -> str:
    if identification.rule is not None:
        return f"Found in Optimove by {describe(identification.rule)}."
    return "Recognised from an earlier conversation, and found in Optimove."


def needs_contact_message(customer_id: str | None) -> str:
    found = f"Customer {customer_id} is not in Optimove, and the" if customer_id else "The"
    return (
        f"{found} ticket's requester is a Comm100 visitor, not a contact. Convert the visitor"
        " into a Comm100 contact first; then the Optimove customer can be found or created."
    )


def not_enabled_message(channel: Channel) -> str:
    return (
        f"The Optimove integration is not enabled for {CHANNEL_NAMES[channel]} on this"
        " site: ask your administrator to enable it."
    )
