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
from optibridge.domain.identify import Identification, is_email_field
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
    label: str  # the field in an agent's words: "customer ID", "e-mail address"


@dataclass(frozen=True)
class CreateOffer:
    allowed: bool
    reason: str
    customer_id: str | None  # known when the conversation identifies one
    asks: list[Ask] = field(default_factory=list)
    preview: list[FieldView] = field(default_factory=list)  # what the creation would write


@dataclass(frozen=True)
class CreationPreview:
    """What *Create* will do, for the agent to confirm: the id and the values."""

    customer_id: str
    message: str
    fields: list[FieldView]


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
    notice: str | None = None  # why the data is stale, or that it waited for the budget
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


# --- fields, in an agent's words -------------------------------------------------------------
# The tab never speaks of settings ("custom variable 'customer_id'"): an agent knows a chat's
# e-mail address, a customer ID, a contact's phone number.

_SYSTEM_WORDS = {
    "email": "e-mail address",
    "phone": "phone number",
    "product_service": "product or service",
    "ip": "IP address",
    "visitor_id": "visitor ID",
    "sso_id": "SSO ID",
    "referrer_url": "referring page",
    "landing_page": "landing page",
}
_IDENTITY_WORDS = {
    "email": "e-mail address",
    "sms": "phone number",
    "whatsapp": "WhatsApp number",
    "ssoid": "SSO ID",
    "externalid": "external ID",
    "wechat": "WeChat ID",
    "line": "LINE ID",
}


def agent_words(ref: FieldRef) -> str:
    """A field as an agent knows it: `customer ID`, `e-mail address`, `phone number`."""
    if ref.source == "system":
        return _SYSTEM_WORDS.get(ref.name, ref.name.replace("_", " "))
    if ref.source == "identity":
        return _IDENTITY_WORDS.get(ref.name.casefold(), f"{ref.name} ID")
    words = ref.name.replace("_", " ").strip()
    if is_email_field(ref):
        return "e-mail address"
    # "customer_id" → "customer ID": an id is an ID wherever it ends a name.
    parts = words.split()
    if parts and parts[-1].casefold() == "id":
        parts[-1] = "ID"
    return " ".join(parts) or ref.name


def either(words: Sequence[str]) -> str:
    """`customer ID`, `customer ID or e-mail address`, `a, b or c`."""
    unique = list(dict.fromkeys(words))
    if len(unique) <= 1:
        return "".join(unique)
    return ", ".join(unique[:-1]) + " or " + unique[-1]


def asks(refs: Sequence[FieldRef]) -> list[Ask]:
    return [Ask(answer_key(ref), ref.source, ref.name, agent_words(ref)) for ref in refs]


def answer_key(ref: FieldRef) -> str:
    return f"{ref.source}:{ref.name}"


def not_allowed_message(channel: Channel) -> str:
    return (
        f"Creating customers from the console is not allowed for {CHANNEL_NAMES[channel]}"
        " on this site: if this customer should be in Optimove, ask your administrator."
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
    preview = preview_fields(site, values)
    if customer_id is not None:
        return CreateOffer(
            True,
            f"You can create customer {customer_id}: you will be asked to confirm.",
            customer_id,
            preview=preview,
        )
    wanted = asks(identification.missing)
    return CreateOffer(
        True,
        f"You can create the customer by entering their {either([a.label for a in wanted])}.",
        None,
        asks=wanted,
        preview=preview,
    )


def preview_fields(site: SiteSetup, values: Mapping[str, str]) -> list[FieldView]:
    """The values a creation writes, labelled as the tab labels fields."""
    return [
        FieldView(
            name,
            ((info.alias if info else None) or name),
            value,
            info.field_type if info else None,
        )
        for name, value in values.items()
        for info in [site.attribute(name)]
    ]


def unidentified_message(
    channel: Channel, identification: Identification, offer: CreateOffer
) -> str:
    where = "chat" if channel == "livechat" else "ticket's contact"
    if not identification.missing:
        return (
            "This site doesn't say yet how to find customers in Optimove: ask your"
            " administrator to set it up."
        )
    missing = either([agent_words(ref) for ref in identification.missing])
    return f"This {where} doesn't say who the customer is: it has no {missing}. {offer.reason}"


def matched_message(identification: Identification, channel: Channel) -> str:
    if identification.rule is not None:
        whose = "the visitor's" if channel == "livechat" else "the contact's"
        return f"Found in Optimove by {whose} {agent_words(identification.rule)}."
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
