"""Edit and Create (SPEC 1 agent stories 4-5): an agent's changes, written to Optimove at once.

- **Edit** writes the fields an agent changed, checked and converted like any mapped value
  (`domain.edits`), through the engine's write path (recorded before it is sent, confirmed by
  Optimove's callback or a read-back).
- **Create** makes the customer when none matched and the channel's policy lets agents create
  (`no_match` is not `never`), asking only for the identification fields the conversation lacks.
  The policy is enforced here, whatever the page showed.

Each change is a sync record (`console_edit`, `console_create`) naming the agent; its status is
what its record says (`change_status`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from optibridge.console.session import ConsoleCaller, check_access
from optibridge.console.views import (
    ORIGIN,
    ConsoleChange,
    CreationPreview,
    agent_words,
    answer_key,
    either,
    needs_contact_message,
    not_allowed_message,
    policy_of,
    preview_fields,
)
from optibridge.domain.context import ConversationContext
from optibridge.domain.decide import decide, mapped_values
from optibridge.domain.edits import converted_values, decide_edit, editable_values, pointer
from optibridge.domain.identify import MAX_CUSTOMER_ID_LENGTH, Identification, identify
from optibridge.domain.records import (
    AGENT_CREATE,
    AGENT_EDIT,
    FAILED,
    UNFINISHED,
    Channel,
)
from optibridge.domain.settings import CHANNEL_NAMES, ChannelSettings, EventPolicy, FieldRef
from optibridge.errors import AppError, Conflict, Invalid, Problem
from optibridge.runtime import Runtime
from optibridge.sync.agents import (
    HostContext,
    change_state,
    completed_context,
    empty_host_context,
    for_agents,
    linked_customer_of,
    read_for_change,
    read_host_context,
    record_refused_edit,
    send_change,
    settle_change,
    start_change,
)
from optibridge.sync.sites import NotConnected, SiteSetup, load_site

# Where an agent's answer for an identification field goes in the conversation's context.
_ANSWER_SOURCES: Mapping[str, str] = {
    "system": "system",
    "prechat": "prechat",
    "offline": "offline",
    "custom_variable": "custom_variables",
    "contact": "contact",
    "identity": "identities",
}


class CreationNotAllowed(AppError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], 403, "creation_not_allowed")


class NeedsContact(AppError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], 409, "needs_contact")


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
    agent = caller.agent
    host = (
        read_host_context(channel, raw_context)
        if raw_context
        else empty_host_context(channel, AGENT_EDIT)
    )
    site = load_site(runtime, site_id, lane="agent")
    section = site.settings.channel(channel)
    _require_enabled(section, channel)
    site.require_optimove()
    customer_id = _customer_id(customer_id)
    try:
        edited = editable_values(section.field_mapping, values)
    except Invalid as invalid:
        refused = "; ".join(f"{p.pointer}: {p.message}" for p in invalid.details)
        record_refused_edit(runtime, agent, site_id, host, customer_id, refused)
        raise

    record = start_change(runtime, agent, site_id, host, AGENT_EDIT, customer_id)
    read = read_for_change(runtime, site, record, customer_id, details_of=list(edited))
    try:
        wanted = converted_values(edited, site.attribute)
    except Invalid as invalid:
        refused = "; ".join(problem.message for problem in invalid.details)
        plan = decide_edit(customer_id, {}, read.attributes)
        reason = f"nothing written: {refused}"
        settle_change(runtime, record, replace(plan, outcome="unchanged", reason=reason))
        raise
    plan = decide_edit(customer_id, wanted, read.attributes)
    if plan.outcome == "no_match":
        settle_change(runtime, record, plan)
        raise Conflict(plan.reason)
    if plan.action == "none":
        settle_change(runtime, record, plan)
        return ConsoleChange(
            record.id,
            "unchanged",
            "Nothing changed: Optimove already has these values.",
            customer_id,
        )
    send_change(runtime, site, record, plan)
    return ConsoleChange(
        record.id,
        "sent",
        "Sent to Optimove; waiting for Optimove to confirm the change.",
        customer_id,
        list(plan.changes),
    )


@dataclass(frozen=True)
class _Creation:
    """A creation the policy allows, with the id the customer will have."""

    site: SiteSetup
    section: ChannelSettings
    policy: EventPolicy
    host: HostContext
    context: ConversationContext  # with the agent's answers
    identification: Identification
    customer_id: str


def _creation(
    runtime: Runtime,
    site_id: int,
    caller: ConsoleCaller,
    channel: Channel,
    raw_context: Mapping[str, Any],
    answers: Mapping[str, str],
) -> _Creation:
    """What *Create* would make, or why it can't (the policy, a visitor, no id)."""
    check_access(runtime, caller, site_id)
    host = read_host_context(channel, raw_context)
    site = load_site(runtime, site_id, lane="agent")
    section = site.settings.channel(channel)
    _require_enabled(section, channel)
    policy = policy_of(section, channel)
    if policy.no_match == "never":  # enforced here, whatever the page showed
        raise CreationNotAllowed(not_allowed_message(channel))
    site.require_optimove()
    context = completed_context(site, host)
    if context.requester_is_visitor:
        raise NeedsContact(needs_contact_message(None))
    identification = identify(
        section.identification, context, linked_customer_of(runtime, site_id, context)
    )
    if identification.customer_id is not None and answers:
        raise Invalid(
            "The conversation already identifies the customer: press Refresh to see them.",
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
        wanted = either([agent_words(ref) for ref in identification.missing])
        raise Invalid(
            f"Enter the {wanted}: it identifies the customer in Optimove.",
            [Problem("/answers", f"enter the {wanted}")],
        )
    return _Creation(site, section, policy, host, context, identification, customer_id)


@for_agents
def creation_preview(
    runtime: Runtime,
    site_id: int,
    caller: ConsoleCaller,
    channel: Channel,
    raw_context: Mapping[str, Any],
    answers: Mapping[str, str],
) -> CreationPreview:
    """What *Create* will do with these answers, for the agent to confirm first: the id the
    customer will have and the values it will get. No customer is read or written."""
    creation = _creation(runtime, site_id, caller, channel, raw_context, answers)
    values, _rejected = mapped_values(
        creation.section.field_mapping, creation.context, creation.site.field_types
    )
    return CreationPreview(
        creation.customer_id,
        f"Create customer {creation.customer_id} in Optimove?",
        preview_fields(creation.site, values),
    )


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
    creation = _creation(runtime, site_id, caller, channel, raw_context, answers)
    agent = caller.agent
    site, section, policy = creation.site, creation.section, creation.policy
    host, context, customer_id = creation.host, creation.context, creation.customer_id
    identification = creation.identification

    record = start_change(runtime, agent, site_id, host, AGENT_CREATE, customer_id, context)
    # Never create from the cache's word: the customer may have been created since.
    read = read_for_change(runtime, site, record, customer_id, refresh=True)
    if read.found:
        message = f"Customer {customer_id} already exists in Optimove: refresh the tab to see it."
        nothing = decide_edit(customer_id, {}, read.attributes)  # found: nothing to write
        settle_change(runtime, record, replace(nothing, reason=message))
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
        origin=ORIGIN[channel],
    )
    plan = replace(plan, reason=f"an agent created it in the console: {plan.reason}")
    send_change(runtime, site, record, plan)
    return ConsoleChange(
        record.id,
        "sent",
        f"Creating customer {customer_id}: waiting for Optimove to confirm.",
        customer_id,
        list(plan.changes),
    )


def change_status(
    runtime: Runtime, site_id: int, caller: ConsoleCaller, record_id: int
) -> ConsoleChange:
    """Where an edit or creation is: sent, confirmed by Optimove, or failed."""
    check_access(runtime, caller, site_id)
    change = change_state(runtime, site_id, record_id)
    verb = "created" if change.event == AGENT_CREATE else "changed"
    if change.state in UNFINISHED:
        message = "Sent to Optimove; waiting for Optimove to confirm."
        return ConsoleChange(record_id, "sent", message, change.customer_id, change.changes)
    if change.state == FAILED:
        why = change.error or "Optimove did not apply it, without saying why"
        return ConsoleChange(
            record_id,
            "failed",
            f"{why.rstrip('.')}. Nothing was changed: try again, and if it fails again, ask"
            " your administrator (the sync log has the details).",
            change.customer_id,
            change.changes,
            change.error,
        )
    if change.outcome in ("updated", "created"):
        message = f"Optimove confirmed: customer {verb}."
        return ConsoleChange(record_id, "confirmed", message, change.customer_id, change.changes)
    return ConsoleChange(
        record_id,
        "unchanged",
        "Nothing was written.",
        change.customer_id,
        change.changes,
        change.error,
    )


def _answered(
    context: ConversationContext, rules: Sequence[FieldRef], answers: Mapping[str, str]
) -> ConversationContext:
    """The context with the agent's answers for the identification fields it lacked."""
    allowed = {answer_key(rule): rule for rule in rules}
    problems: list[Problem] = []
    additions: dict[str, dict[str, str]] = {}
    for key, value in answers.items():
        where = pointer("answers", key)
        rule = allowed.get(key)
        if rule is None:
            problems.append(Problem(where, "is not a field this site identifies customers by"))
            continue
        text = value.strip() if isinstance(value, str) else ""
        if len(text) > MAX_CUSTOMER_ID_LENGTH:
            problems.append(Problem(where, f"at most {MAX_CUSTOMER_ID_LENGTH} characters"))
            continue
        if text:
            additions.setdefault(_ANSWER_SOURCES[rule.source], {})[rule.name] = text
    if problems:
        raise Invalid("Some answers can't be used.", problems)
    document = context.to_json()
    for attribute, values in additions.items():
        document[attribute] = {**document[attribute], **values}
    return ConversationContext.from_json(document)


def _require_enabled(section: ChannelSettings, channel: Channel) -> None:
    if not section.enabled:
        raise NotConnected(
            f"The Optimove integration is not enabled for {CHANNEL_NAMES[channel]} on this"
            " site: ask your administrator to enable it."
        )


def _customer_id(value: str) -> str:
    text = value.strip()
    if not text or len(text) > MAX_CUSTOMER_ID_LENGTH:
        raise Invalid(
            "The customer id is not valid.",
            [Problem("/customer_id", f"must be 1 to {MAX_CUSTOMER_ID_LENGTH} characters")],
        )
    return text
