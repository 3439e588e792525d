"""The agent console (SPEC 1 agent stories, 4.5): what the Optimove tab shows and does.

- **Lookup** identifies the customer of the conversation the tab sits beside (the channel's
  rules, then the remembered link), reads it (from the read cache when fresh, so the chat-end
  decision that follows is free; *Refresh* always reads Optimove), and says plainly why
  nothing is shown when nothing can be.
- **Edit** writes the fields an agent changed, validated and converted like any mapped value,
  through the same write path as the worker (recorded before it is sent, confirmed by
  Optimove's callback or a read-back).
- **Create** makes the customer when none matched and the channel's policy lets agents create
  (`no_match` is not `never`), asking only for the identification fields the conversation
  lacks. The policy is enforced here, whatever the page shows.

Every lookup, edit and creation is a sync record (events `console_lookup`, `console_edit`,
`console_create`) on the tab's channel, so the sync log shows it with its changes and calls.
Agents never wait long for Optimove: the console's calls take a slot from the shared limiter
only if one comes within `MAX_LIMITER_WAIT_S` (else a 429 `busy`), time out sooner and retry
less than the worker's.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from optibridge.comm100 import errors as comm100_errors
from optibridge.console.session import ConsoleCaller
from optibridge.console.site import (
    LOOKUP_EVENT,
    CreationNotAllowed,
    HostContext,
    NeedsContact,
    check_access,
    completed_context,
    for_agents,
    plain_message,
    read_host_context,
)
from optibridge.domain.context import CHAT_ENDED, TICKET_CREATED, ConversationContext
from optibridge.domain.decide import Change, Plan, attribute_chunks, decide, mapped_values
from optibridge.domain.fields import describe
from optibridge.domain.identify import Identification, identify
from optibridge.domain.records import (
    AWAITING_CALLBACK,
    DONE,
    FAILED,
    QUEUED,
    UNFINISHED,
    WORKING,
    Channel,
)
from optibridge.domain.settings import (
    CHANNEL_NAMES,
    ChannelSettings,
    EventPolicy,
    FieldMapping,
    FieldRef,
    customer_url,
)
from optibridge.domain.values import ValueRejected, same_value, to_optimove_value
from optibridge.errors import AppError, Conflict, Invalid, NotFound, Problem
from optibridge.logs import get_logger
from optibridge.metrics import count_record_outcome
from optibridge.optimove.errors import OptimoveError
from optibridge.runtime import Runtime
from optibridge.store.models import OptimoveCallLog, SyncRecord
from optibridge.store.sync_records import (
    ClaimedRecord,
    Held,
    NewRecord,
    cache_customer,
    customer_busy,
    finish,
    hold,
    insert_record,
    linked_customer,
    log_call,
    remember_link,
    settle_write,
)
from optibridge.sync.batcher import PendingUpdate, WriteEntry, WriteNotSent, send_write
from optibridge.sync.customers import read_customer
from optibridge.sync.sites import (
    NOT_CONNECTED,
    NotConnected,
    SiteSetup,
    load_attributes,
    load_site,
)

log = get_logger(__name__)

# Who holds a console change's record while it is written (workers have their own ids).
CONSOLE_OWNER = "console"

EDIT_EVENT = "console_edit"
CREATE_EVENT = "console_create"
CHANGE_EVENTS = (EDIT_EVENT, CREATE_EVENT)

MAX_EDITED_FIELDS = 50
MAX_VALUE_LENGTH = 4000

# The event whose policy governs what agents may do beside a conversation of each channel.
_CHANNEL_EVENT: Mapping[Channel, str] = {"livechat": CHAT_ENDED, "ticketing": TICKET_CREATED}
_ORIGIN: Mapping[Channel, str] = {"livechat": "the chat", "ticketing": "the ticket"}
_ANSWER_SOURCES: Mapping[str, str] = {
    "system": "system",
    "prechat": "prechat",
    "offline": "offline",
    "custom_variable": "custom_variables",
    "contact": "contact",
    "identity": "identities",
}

ViewStatus = Literal[
    "matched", "no_match", "unidentified", "needs_contact", "disabled", "not_connected"
]
ChangeStatus = Literal["sent", "confirmed", "unchanged", "failed"]


# --- what the tab shows --------------------------------------------------------------------


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


# --- lookup and refresh ---------------------------------------------------------------------


@dataclass
class _Read:
    """A customer read, from the cache or Optimove, and what it cost."""

    attributes: dict[str, str | None] | None  # None: not in Optimove
    fetched_at: float
    stale: bool = False
    notice: str | None = None
    call: OptimoveCallLog | None = None
    cache_it: bool = False
    error: str | None = None


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
    host = read_host_context(channel, raw_context)
    site = load_site(runtime, site_id, lane="agent", with_attributes=False)
    settings = site.settings
    section = settings.channel(channel)
    policy = _policy(section, channel)
    if not section.enabled:
        message = (
            f"The Optimove integration is not enabled for {CHANNEL_NAMES[channel]} on this"
            " site: ask your administrator to enable it."
        )
        _record_lookup(runtime, caller, site_id, host, host.context, "skipped", message)
        return ConsoleView(channel, "disabled", message)
    if site.optimove is None:
        not_connected = _Read(None, 0.0, error=NOT_CONNECTED)
        _record_lookup(
            runtime, caller, site_id, host, host.context, "failed", None, None, not_connected
        )
        return ConsoleView(channel, "not_connected", NOT_CONNECTED)
    site.attributes = load_attributes(runtime, site, lane="agent")
    try:
        context = completed_context(site, host)
    except (AppError, comm100_errors.Comm100Error) as error:
        unread = _Read(None, 0.0, error=f"the ticket's requester could not be read: {error}")
        _record_lookup(runtime, caller, site_id, host, host.context, "failed", None, None, unread)
        raise
    with runtime.unit_of_work(read_only=True) as session:
        linked = _linked(session, site_id, context)
    identification = identify(section.identification, context, linked)

    if identification.customer_id is None:
        view, outcome, reason = _unidentified_view(
            site, section, policy, channel, context, identification
        )
        record_id = _record_lookup(runtime, caller, site_id, host, context, outcome, reason)
        return replace(view, record_id=record_id)

    customer_id = identification.customer_id
    shown = [m.optimove_field for m in section.field_mapping if m.show_in_console]
    try:
        read = _read_customer(runtime, site, customer_id, refresh=refresh, details_of=shown)
    except OptimoveError as error:
        failed = _Read(None, 0.0, error=str(error))
        reason = f"customer {customer_id} could not be read from Optimove, and none was known"
        _record_lookup(
            runtime, caller, site_id, host, context, "failed", reason, customer_id, failed
        )
        raise
    view, outcome, reason = _identified_view(
        site, section, policy, channel, context, identification, read
    )
    if read.error:
        outcome = "failed"
    record_id = _record_lookup(
        runtime, caller, site_id, host, context, outcome, reason, customer_id, read
    )
    return replace(view, record_id=record_id)


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
        view = ConsoleView(channel, "needs_contact", _needs_contact_message(None))
        return view, "needs_contact", view.message
    offer = _offer(site, section, policy, channel, context, identification, None)
    view = ConsoleView(
        channel,
        "unidentified",
        _unidentified_message(channel, identification, offer),
        missing=_asks(identification.missing),
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
    read: _Read,
) -> tuple[ConsoleView, str, str]:
    """What the tab shows for a customer id and its read; with the outcome and reason."""
    customer_id = identification.customer_id
    assert customer_id is not None
    if read.attributes is not None:
        view = ConsoleView(
            channel,
            "matched",
            _matched_message(identification),
            customer_id=customer_id,
            customer_url=customer_url(site.settings, customer_id),
            fields=_shown_fields(site, section.field_mapping, read.attributes),
        )
        reason = f"customer {customer_id} shown to the agent" + (
            " (last known data: Optimove could not be read)" if read.stale else ""
        )
        return _as_read(view, read), "unchanged", reason
    if context.requester_is_visitor:
        message = _needs_contact_message(customer_id)
        view = ConsoleView(channel, "needs_contact", message, customer_id=customer_id)
        return _as_read(view, read), "needs_contact", message
    offer = _offer(site, section, policy, channel, context, identification, customer_id)
    view = ConsoleView(
        channel,
        "no_match",
        f"No Optimove customer has the id {customer_id}. {offer.reason}",
        customer_id=customer_id,
        create=offer,
    )
    reason = f"customer {customer_id} is not in Optimove (shown to the agent)"
    return _as_read(view, read), "no_match", reason


def _as_read(view: ConsoleView, read: _Read) -> ConsoleView:
    """The view, saying when its data was read and whether it is stale."""
    fetched_at = datetime.fromtimestamp(read.fetched_at, UTC) if read.fetched_at else None
    return replace(view, stale=read.stale, fetched_at=fetched_at, notice=read.notice)


def _read_customer(
    runtime: Runtime,
    site: SiteSetup,
    customer_id: str,
    *,
    refresh: bool,
    stale_ok: bool = True,
    details_of: Sequence[str] = (),
) -> _Read:
    """The engine's read (`sync.customers.read_customer`), as the tab shows it: last known
    data, when Optimove failed, comes with a notice the agent can read."""
    read = read_customer(
        runtime,
        site,
        customer_id,
        max_age_s=runtime.config.customer_cache_ttl_s,
        refresh=refresh,
        stale_ok=stale_ok,
        details_of=details_of,
    )
    notice = (
        f"{plain_message(read.error)} Showing the last known data, which may be out of date."
        if read.error is not None
        else None
    )
    return _Read(
        read.attributes,
        read.fetched_at,
        stale=read.stale,
        notice=notice,
        call=read.call,
        cache_it=read.from_optimove,
        error=str(read.error) if read.error is not None else None,
    )


def _linked(session: Session, site_id: int, context: ConversationContext) -> str | None:
    if context.subject_kind and context.subject_id:
        return linked_customer(session, site_id, context.subject_kind, context.subject_id)
    return None


def _policy(section: ChannelSettings, channel: Channel) -> EventPolicy:
    policy = section.policy(_CHANNEL_EVENT[channel])
    assert policy is not None  # chat_ended and ticket_created always have one
    return policy


def _shown_fields(
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


def _asks(refs: Sequence[FieldRef]) -> list[Ask]:
    return [Ask(_answer_key(ref), ref.source, ref.name, describe(ref)) for ref in refs]


def _answer_key(ref: FieldRef) -> str:
    return f"{ref.source}:{ref.name}"


def _offer(
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
        return CreateOffer(
            False,
            f"Creating customers from the console is not allowed for {CHANNEL_NAMES[channel]}"
            " on this site.",
            customer_id,
        )
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
    asks = _asks(identification.missing)
    return CreateOffer(
        True,
        "You can create the customer by entering "
        + ("one of these fields." if len(asks) > 1 else "it."),
        None,
        asks=asks,
        preview=preview,
    )


def _unidentified_message(
    channel: Channel, identification: Identification, offer: CreateOffer
) -> str:
    where = "chat" if channel == "livechat" else "ticket's contact"
    if not identification.missing:
        return "No identification rule is set for this channel: ask your administrator."
    return (
        f"This {where} doesn't say who the customer is: no value for"
        f" {identification.missing_description()}. {offer.reason}"
    )


def _matched_message(identification: Identification) -> str:
    if identification.rule is not None:
        return f"Found in Optimove by {describe(identification.rule)}."
    return "Recognised from an earlier conversation, and found in Optimove."


def _needs_contact_message(customer_id: str | None) -> str:
    found = f"Customer {customer_id} is not in Optimove, and the" if customer_id else "The"
    return (
        f"{found} ticket's requester is a Comm100 visitor, not a contact. Convert the visitor"
        " into a Comm100 contact first; then the Optimove customer can be found or created."
    )


def _record_lookup(
    runtime: Runtime,
    caller: ConsoleCaller,
    site_id: int,
    host: HostContext,
    context: ConversationContext,
    outcome: str,
    reason: str | None,
    customer_id: str | None = None,
    read: _Read | None = None,
) -> int:
    """The lookup as a settled sync record, with its Optimove read (if one was made)."""
    with runtime.unit_of_work() as session:
        record_id = _insert(session, caller, site_id, host, context, LOOKUP_EVENT, unique=True)
        failed = read is not None and read.error is not None
        finish(
            session,
            record_id,
            held=Held(QUEUED),  # inserted just now, in this transaction
            state=FAILED if failed else DONE,
            outcome=outcome,
            reason=reason,
            customer_id=customer_id,
            changes=[],
            error=read.error if read is not None else None,
            count_attempt=False,
        )
        if read is not None and read.call is not None:
            read.call.record_id = record_id
            log_call(session, read.call)
        if read is not None and read.cache_it and customer_id is not None:
            cache_customer(session, site_id, customer_id, read.attributes)
        if (
            customer_id is not None
            and read is not None
            and read.attributes is not None
            and context.subject_kind
            and context.subject_id
        ):
            remember_link(session, site_id, context.subject_kind, context.subject_id, customer_id)
    count_record_outcome(outcome)
    return record_id


def _insert(
    session: Session,
    caller: ConsoleCaller,
    site_id: int,
    host: HostContext,
    context: ConversationContext,
    event: str,
    *,
    unique: bool,
) -> int:
    ids = dict(host.comm100_ids)
    if caller.agent_id:
        ids["agent_id"] = caller.agent_id
    record_id, _duplicate = insert_record(
        session.connection(),
        NewRecord(
            site_id=site_id,
            channel=host.channel,
            event=event,
            dedupe_key=uuid.uuid4().hex,
            order_key=f"console:{uuid.uuid4().hex}" if unique else host.order_key,
            comm100_ids=ids,
            context=replace(context, event=event).to_json(),
        ),
    )
    return record_id


# --- edit -----------------------------------------------------------------------------------


@for_agents
def edit(
    runtime: Runtime,
    site_id: int,
    caller: ConsoleCaller,
    channel: Channel,
    raw_context: Mapping[str, Any] | None,
    customer_id: str,
    values: Mapping[str, str | None],
) -> ConsoleChange:
    """Write the fields an agent changed to `customer_id` (only fields shown in the console)."""
    check_access(runtime, caller, site_id)
    host = _host_or_empty(channel, raw_context)
    site = load_site(runtime, site_id, lane="agent")
    section = site.settings.channel(channel)
    _require_enabled(section, channel)
    site.require_optimove()
    customer_id = _customer_id(customer_id)
    try:
        edited = _editable_values(section, values)
    except Invalid as invalid:
        _record_refused(runtime, caller, site_id, host, customer_id, invalid)
        raise

    record = _start_write(runtime, caller, site_id, host, EDIT_EVENT, customer_id)
    read = _read_for_write(runtime, site, record.id, customer_id, details_of=list(edited))
    try:
        wanted = _converted(site, edited)
    except Invalid as invalid:
        refused = "; ".join(problem.message for problem in invalid.details)
        _settle(runtime, record.id, DONE, "unchanged", f"nothing written: {refused}", customer_id)
        raise
    if read.attributes is None:
        message = f"Customer {customer_id} is not in Optimove (any more): refresh the tab."
        _settle(runtime, record.id, DONE, "no_match", message, customer_id)
        raise Conflict(message)

    current = {name.casefold(): value for name, value in read.attributes.items()}
    changes = [
        Change(name, current.get(name.casefold()), new)
        for name, (new, field_type) in wanted.items()
        if not same_value(current.get(name.casefold()), new, field_type)
    ]
    if not changes:
        _settle(
            runtime,
            record.id,
            DONE,
            "unchanged",
            "an agent saved values that Optimove already had: nothing was written",
            customer_id,
        )
        return ConsoleChange(
            record.id,
            "unchanged",
            "Nothing changed: Optimove already has these values.",
            customer_id,
        )
    names = _names([c.field for c in changes])
    plan = Plan(
        outcome="updated",
        reason=f"an agent changed {names} in the console",
        customer_id=customer_id,
        action="update",
        changes=tuple(changes),
        rejected=(),
    )
    _send(runtime, site, record, plan, "update")
    return ConsoleChange(
        record.id,
        "sent",
        "Sent to Optimove; waiting for Optimove to confirm the change.",
        customer_id,
        changes,
    )


def _editable_values(section: ChannelSettings, values: Mapping[str, str | None]) -> dict[str, str]:
    """mapped field → the agent's value; or 422 naming every problem. Only the fields the
    console shows can be edited, and never emptied."""
    editable: dict[str, str] = {}
    for item in section.field_mapping:
        if item.show_in_console:
            editable.setdefault(item.optimove_field.casefold(), item.optimove_field)
    problems: list[Problem] = []
    if not values:
        problems.append(Problem("/values", "change at least one field"))
    if len(values) > MAX_EDITED_FIELDS:
        problems.append(Problem("/values", f"at most {MAX_EDITED_FIELDS} fields at once"))
    edited: dict[str, str] = {}
    for given, raw in values.items():
        pointer = _pointer("values", given)
        mapped = editable.get(given.strip().casefold())
        if mapped is None:
            problems.append(Problem(pointer, "is not a field this tab can edit"))
        elif raw is None or not raw.strip():
            problems.append(Problem(pointer, "enter a value (the console can't empty a field)"))
        elif len(raw) > MAX_VALUE_LENGTH:
            problems.append(Problem(pointer, f"at most {MAX_VALUE_LENGTH} characters"))
        else:
            edited[mapped] = raw
    if problems:
        raise Invalid("Some values can't be saved.", problems)
    return edited


def _converted(site: SiteSetup, edited: Mapping[str, str]) -> dict[str, tuple[str, str | None]]:
    """field (the account's spelling) → (the value as Optimove stores it, its type); or 422
    naming every value its attribute's type refuses."""
    problems: list[Problem] = []
    wanted: dict[str, tuple[str, str | None]] = {}
    for mapped, raw in edited.items():
        attribute = site.attribute(mapped)
        name = attribute.real_field_name if attribute else mapped
        label = (attribute.alias if attribute else None) or name
        field_type = attribute.field_type if attribute else None
        try:
            wanted[name] = (to_optimove_value(raw, field_type, field=label), field_type)
        except ValueRejected as rejected:
            problems.append(Problem(_pointer("values", mapped), f"{label}: {rejected}"))
    if problems:
        raise Invalid("Some values can't be saved.", problems)
    return wanted


def _pointer(*parts: str) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


# --- create ---------------------------------------------------------------------------------


@for_agents
def create(
    runtime: Runtime,
    site_id: int,
    caller: ConsoleCaller,
    channel: Channel,
    raw_context: Mapping[str, Any],
    answers: Mapping[str, str],
) -> ConsoleChange:
    """Create the conversation's customer in Optimove, when the policy lets agents create."""
    check_access(runtime, caller, site_id)
    host = read_host_context(channel, raw_context)
    site = load_site(runtime, site_id, lane="agent")
    section = site.settings.channel(channel)
    _require_enabled(section, channel)
    policy = _policy(section, channel)
    if policy.no_match == "never":  # enforced here, whatever the page showed
        raise CreationNotAllowed(
            f"Creating customers from the console is not allowed for {CHANNEL_NAMES[channel]}"
            " on this site."
        )
    site.require_optimove()
    context = completed_context(site, host)
    if context.requester_is_visitor:
        raise NeedsContact(_needs_contact_message(None))
    with runtime.unit_of_work(read_only=True) as session:
        linked = _linked(session, site_id, context)
    identification = identify(section.identification, context, linked)
    if identification.customer_id is not None and answers:
        raise Invalid(
            "The conversation already identifies the customer.",
            [
                Problem(
                    "/answers",
                    f"no answer is needed: this conversation is customer"
                    f" {identification.customer_id}",
                )
            ],
        )
    if identification.customer_id is None:
        context = _answered(context, section.identification, answers)
        identification = identify(section.identification, context, None)
    customer_id = identification.customer_id
    if customer_id is None:
        wanted = " or ".join(describe(ref) for ref in identification.missing)
        raise Invalid(
            "Enter the customer's identification.",
            [Problem("/answers", f"enter a value for {wanted}")],
        )

    record = _start_write(runtime, caller, site_id, host, CREATE_EVENT, customer_id, context)
    # Never create from the cache's word: the customer may have been created since.
    read = _read_for_write(runtime, site, record.id, customer_id, refresh=True)
    if read.attributes is not None:
        message = f"Customer {customer_id} already exists in Optimove: refresh the tab to see it."
        _settle(runtime, record.id, DONE, "unchanged", message, customer_id)
        raise Conflict(message)
    field_types = site.field_types
    values, rejected = mapped_values(section.field_mapping, context, field_types)
    plan = decide(
        policy=EventPolicy(update=policy.update, no_match="auto_create"),
        channel_enabled=True,
        identification=identification,
        current=None,
        values=values,
        rejected=rejected,
        field_types=field_types,
        requester_is_visitor=False,
        origin=_ORIGIN[channel],
    )
    plan = replace(plan, reason=f"an agent created it in the console: {plan.reason}")
    _send(runtime, site, record, plan, "upsert")
    return ConsoleChange(
        record.id,
        "sent",
        f"Creating customer {customer_id}: waiting for Optimove to confirm.",
        customer_id,
        list(plan.changes),
    )


def _answered(
    context: ConversationContext, rules: Sequence[FieldRef], answers: Mapping[str, str]
) -> ConversationContext:
    """The context with the agent's answers for the identification fields it lacked."""
    allowed = {_answer_key(rule): rule for rule in rules}
    problems: list[Problem] = []
    additions: dict[str, dict[str, str]] = {}
    for key, value in answers.items():
        pointer = _pointer("answers", key)
        rule = allowed.get(key)
        if rule is None:
            problems.append(Problem(pointer, "is not a field this site identifies customers by"))
            continue
        text = value.strip() if isinstance(value, str) else ""
        if len(text) > 200:
            problems.append(Problem(pointer, "at most 200 characters"))
            continue
        if text:
            additions.setdefault(_ANSWER_SOURCES[rule.source], {})[rule.name] = text
    if problems:
        raise Invalid("Some answers can't be used.", problems)
    document = context.to_json()
    for attribute, values in additions.items():
        document[attribute] = {**document[attribute], **values}
    return ConversationContext.from_json(document)


# --- the status of a change -----------------------------------------------------------------


def change_status(
    runtime: Runtime, site_id: int, caller: ConsoleCaller, record_id: int
) -> ConsoleChange:
    """Where an edit or creation is: sent, confirmed by Optimove, or failed."""
    check_access(runtime, caller, site_id)
    with runtime.unit_of_work(read_only=True) as session:
        record = session.get(SyncRecord, record_id)
        if record is None or record.site_id != site_id or record.event not in CHANGE_EVENTS:
            raise NotFound(f"Console change {record_id} does not exist for site {site_id}.")
        changes = [
            Change(str(c.get("field")), c.get("old"), str(c.get("new")))
            for c in record.changes
            if isinstance(c, dict)
        ]
        state, outcome, error = record.state, record.outcome, record.last_error
        customer_id = record.customer_id
        verb = "created" if record.event == CREATE_EVENT else "changed"
    if state in UNFINISHED:
        return ConsoleChange(
            record_id,
            "sent",
            "Sent to Optimove; waiting for Optimove to confirm.",
            customer_id,
            changes,
        )
    if state == FAILED:
        return ConsoleChange(
            record_id,
            "failed",
            error or "Optimove did not apply it, without saying why.",
            customer_id,
            changes,
            error,
        )
    if outcome in ("updated", "created"):
        return ConsoleChange(
            record_id, "confirmed", f"Optimove confirmed: customer {verb}.", customer_id, changes
        )
    return ConsoleChange(
        record_id, "unchanged", "Nothing was written.", customer_id, changes, error
    )


# --- writing, through the worker's path ---------------------------------------------------


def _start_write(
    runtime: Runtime,
    caller: ConsoleCaller,
    site_id: int,
    host: HostContext,
    event: str,
    customer_id: str,
    context: ConversationContext | None = None,
) -> ClaimedRecord:
    """The change's record, taking its customer (409 while another write to it is under way).

    It is inserted `working`, already leased, in one transaction, so no worker ever sees it
    queued; it holds the customer like a worker's record between its read and its write.
    """
    conversation = context or host.context
    with runtime.unit_of_work() as session:
        if customer_busy(session, site_id, customer_id, 0):
            raise Conflict(
                f"Another change to customer {customer_id} is being written to Optimove right"
                " now; try again in a few seconds."
            )
        record_id = _insert(session, caller, site_id, host, conversation, event, unique=False)
        hold(
            session,
            record_id,
            held=Held(QUEUED),  # inserted just now, in this transaction
            owner=CONSOLE_OWNER,
            lease_s=runtime.config.worker_lease_s,
            customer_id=customer_id,
        )
        row = session.get(SyncRecord, record_id)
        assert row is not None
        return ClaimedRecord(
            id=record_id,
            site_id=site_id,
            channel=host.channel,
            event=event,
            order_key=row.order_key,
            comm100_ids=dict(row.comm100_ids),
            context=dict(row.context),
            attempts=0,
            claimed_by=CONSOLE_OWNER,
        )


def _send(runtime: Runtime, site: SiteSetup, record: ClaimedRecord, plan: Plan, kind: str) -> None:
    """The plan's write(s), ≤ 10 attributes per call; a failure fails the record at once (the
    agent sees why and can try again: console changes are never retried behind their back)."""
    pending = PendingUpdate(record=record, plan=plan)
    setup = site
    for chunk in attribute_chunks(plan.changes) or [()]:
        entry = WriteEntry(pending.customer_id, chunk, (pending,))
        try:
            send_write(runtime, setup, kind, [entry])
        except WriteNotSent as failure:
            with runtime.unit_of_work() as session:
                settle_write(session, failure.write_id, "failed", {"error": failure.message})
                finish(
                    session,
                    record.id,
                    held=Held(AWAITING_CALLBACK),
                    state=FAILED,
                    outcome="failed",
                    reason=plan.reason,
                    error=failure.message,
                    count_attempt=False,
                )
            count_record_outcome("failed")
            if isinstance(failure.error, AppError):
                raise failure.error from None
            raise AppError(
                "The change could not be sent to Optimove; it is in the sync log.",
                status=502,
                code="optimove_failed",
            ) from failure


def _record_refused(
    runtime: Runtime,
    caller: ConsoleCaller,
    site_id: int,
    host: HostContext,
    customer_id: str,
    invalid: Invalid,
) -> None:
    """An edit refused before anything was read or sent, in the sync log all the same."""
    refused = "; ".join(f"{p.pointer}: {p.message}" for p in invalid.details)
    with runtime.unit_of_work() as session:
        record_id = _insert(session, caller, site_id, host, host.context, EDIT_EVENT, unique=True)
        finish(
            session,
            record_id,
            held=Held(QUEUED),  # inserted just now, in this transaction
            state=DONE,
            outcome="unchanged",
            reason=f"nothing written: the values were refused ({refused})",
            customer_id=customer_id,
            changes=[],
            count_attempt=False,
        )
    count_record_outcome("unchanged")


def _read_for_write(
    runtime: Runtime,
    site: SiteSetup,
    record_id: int,
    customer_id: str,
    *,
    refresh: bool = False,
    details_of: Sequence[str] = (),
) -> _Read:
    """The customer before a write, noted on the change's record; a failed read fails the
    record (nothing is sent on a guess) and is raised for the agent to see."""
    try:
        read = _read_customer(
            runtime,
            site,
            customer_id,
            refresh=refresh,
            stale_ok=False,
            details_of=details_of,
        )
    except AppError as error:
        _fail(runtime, record_id, f"Optimove could not be read, so nothing was sent: {error}")
        raise
    _note_read(runtime, record_id, site_id=site.site_id, customer_id=customer_id, read=read)
    return read


def _note_read(
    runtime: Runtime, record_id: int, site_id: int, customer_id: str, read: _Read
) -> None:
    if read.call is None and not read.cache_it:
        return
    with runtime.unit_of_work() as session:
        if read.call is not None:
            read.call.record_id = record_id
            log_call(session, read.call)
        if read.cache_it:
            cache_customer(session, site_id, customer_id, read.attributes)


def _settle(
    runtime: Runtime, record_id: int, state: str, outcome: str, reason: str, customer_id: str
) -> None:
    with runtime.unit_of_work() as session:
        finish(
            session,
            record_id,
            held=Held(WORKING, CONSOLE_OWNER),
            state=state,
            outcome=outcome,
            reason=reason,
            customer_id=customer_id,
            changes=[],
            count_attempt=False,
        )
    count_record_outcome(outcome)


def _fail(runtime: Runtime, record_id: int, error: str) -> None:
    with runtime.unit_of_work() as session:
        finish(
            session,
            record_id,
            held=Held(WORKING, CONSOLE_OWNER),
            state=FAILED,
            outcome="failed",
            reason=None,
            error=error,
            count_attempt=False,
        )
    count_record_outcome("failed")


# --- small helpers ----------------------------------------------------------------------------


def _host_or_empty(channel: Channel, raw: Mapping[str, Any] | None) -> HostContext:
    if raw:
        return read_host_context(channel, raw)
    return HostContext(channel, ConversationContext(channel=channel, event=EDIT_EVENT), {})


def _require_enabled(section: ChannelSettings, channel: Channel) -> None:
    if not section.enabled:
        raise NotConnected(
            f"The Optimove integration is not enabled for {CHANNEL_NAMES[channel]} on this site."
        )


def _customer_id(value: str) -> str:
    text = value.strip()
    if not text or len(text) > 200:
        raise Invalid(
            "The customer id is not valid.",
            [Problem("/customer_id", "must be 1 to 200 characters")],
        )
    return text


def _names(fields: Sequence[str]) -> str:
    if len(fields) <= 1:
        return "".join(fields)
    return ", ".join(fields[:-1]) + " and " + fields[-1]
