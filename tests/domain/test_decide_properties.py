"""Properties of the decision (SPEC 4.2) over generated conversations, settings and customers.

A scenario is what the engine would gather for one event: the channel's mapping and
identification rules, a conversation, the remembered link, the policy, the account's field
types and the customer's current attributes (or "not found"). Values are drawn from small pools
so that Comm100 and Optimove often agree, differ only in spelling, or are empty.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Literal, TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from optibridge.domain.context import ConversationContext
from optibridge.domain.decide import Change, Plan, attribute_chunks, decide, mapped_values
from optibridge.domain.identify import Identification, identify
from optibridge.domain.records import Channel
from optibridge.domain.settings import EventPolicy, FieldMapping, FieldRef
from optibridge.domain.values import ValueRejected, is_empty, same_value, to_optimove_value
from tests.support.strategies import nasty_text

ACCOUNT: dict[str, str | None] = {
    "EMAIL": "Nvarchar(100)",
    "FIRST_NAME": "Nvarchar(10)",
    "LAST_NAME": "Nvarchar",
    "PHONE": "Nvarchar(30)",
    "AGE": "Bigint",
    "SCORE": "Tinyint",
    "BALANCE": "Decimal(18,2)",
    "RATE": "Float",
    "DATE_OF_BIRTH": "Date",
    "LAST_SEEN": "Datetime",
    "OPT_IN_EMAIL": "Bit",
    "VIP_LEVEL": None,
    "CITY": "Nvarchar(50)",
    "COUNTRY": "Nvarchar(50)",
}
FIELDS = [*ACCOUNT, "SHOE_SIZE", "CustomerID"]  # one the account lacks, and the id pseudo-field
SAMPLES: dict[str, list[str]] = {
    "text": ["Ann", "ann", "Bob", "gold", "Zoë", "a much longer value", "x@y.co", " "],
    "integer": ["42", "42.0", "1,042", "-3", "300", "abc"],
    "decimal": ["10.5", "10.50", "1,234.567", "0", "1.234,50"],
    "date": ["1990-05-01", "01.05.1990", "/Date(641520000000)/", "01/05/1990", "1990-05-01 00:00"],
    "boolean": ["1", "0", "yes", "no", "True", "maybe"],
}
KIND = {
    "AGE": "integer",
    "SCORE": "integer",
    "BALANCE": "decimal",
    "RATE": "decimal",
    "DATE_OF_BIRTH": "date",
    "LAST_SEEN": "date",
    "OPT_IN_EMAIL": "boolean",
}
REFS = [
    FieldRef(source="system", name="email"),
    FieldRef(source="system", name="name"),
    FieldRef(source="system", name="phone"),
    FieldRef(source="prechat", name="First Name"),
    FieldRef(source="prechat", name="Age"),
    FieldRef(source="offline", name="email"),
    *(FieldRef(source="custom_variable", name=f"v{i}") for i in range(8)),
    FieldRef(source="contact", name="firstName"),
    FieldRef(source="contact", name="Loyalty Tier"),
    FieldRef(source="identity", name="Email"),
    FieldRef(source="identity", name="SMS"),
]
ID_REFS = [
    FieldRef(source="custom_variable", name="customer_id"),
    FieldRef(source="system", name="email"),
    FieldRef(source="prechat", name="Customer Number"),
    FieldRef(source="contact", name="Customer ID"),
    FieldRef(source="identity", name="Email"),
]
CHANNELS: tuple[Channel, ...] = ("livechat", "ticketing")
SUBJECT_KINDS: tuple[SubjectKind, ...] = ("visitor", "contact")
policies = st.builds(
    EventPolicy,
    update=st.sampled_from(["none", "overwrite", "fill_empty"]),
    no_match=st.sampled_from(["auto_create", "agent_create", "never"]),
)
T = TypeVar("T")
SubjectKind = Literal["visitor", "contact"]
any_sample = st.sampled_from(sorted({v for values in SAMPLES.values() for v in values}))


def mostly(usual: st.SearchStrategy[T], rare: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """`usual` three times in four: the cases that write should not drown in skipped events."""
    return st.integers(0, 3).flatmap(lambda i: rare if i == 3 else usual)


def samples_for(field: str) -> st.SearchStrategy[str]:
    return st.sampled_from(SAMPLES[KIND.get(field, "text")]) | any_sample


@st.composite
def mappings(draw: st.DrawFn) -> tuple[FieldMapping, ...]:
    fields = draw(st.lists(st.sampled_from(FIELDS), unique=True, min_size=1))
    return tuple(mapping(field, draw(st.sampled_from(REFS))) for field in fields)


def mapping(field: str, ref: FieldRef) -> FieldMapping:
    if field == "CustomerID":  # refused on save; a decision must hold without that check
        return FieldMapping.model_construct(
            optimove_field=field, comm100_field=ref, show_in_console=True
        )
    return FieldMapping(optimove_field=field, comm100_field=ref)


def spelled(name: str) -> st.SearchStrategy[str]:
    """`name` as a webhook may spell it (the case can differ)."""
    return st.sampled_from([name, name.lower(), name.upper()])


@st.composite
def contexts(draw: st.DrawFn, refs: list[FieldRef]) -> ConversationContext:
    channel: Channel = draw(st.sampled_from(CHANNELS))
    subject_kind: SubjectKind | None = draw(st.sampled_from([*SUBJECT_KINDS, None]))
    parts: dict[str, dict[str, str]] = {
        "system": {},
        "prechat": {},
        "offline": {},
        "custom_variables": {},
        "contact": {},
        "identities": {},
    }
    part_of = {"custom_variable": "custom_variables", "identity": "identities"}
    for ref in refs:
        if draw(mostly(st.just(True), st.just(False))):
            value = draw(any_sample | st.sampled_from(["", "  ", "C-1", "Ann@Example.com"]))
            parts[part_of.get(ref.source, ref.source)][draw(spelled(ref.name))] = value
    return ConversationContext(
        channel=channel,
        event=draw(st.sampled_from(["chat_ended", "offline_message_submitted", "ticket_created"])),
        **parts,
        subject_kind=subject_kind,
        subject_id="subject-1",
    )


@dataclass(frozen=True)
class Scenario:
    mapping: tuple[FieldMapping, ...]
    rules: tuple[FieldRef, ...]
    context: ConversationContext
    link: str | None
    policy: EventPolicy | None
    channel_enabled: bool
    field_types: Mapping[str, str | None]
    current: Mapping[str, str | None] | None

    @property
    def identification(self) -> Identification:
        return identify(self.rules, self.context, self.link)

    @property
    def values(self) -> tuple[dict[str, str], tuple[tuple[str, str], ...]]:
        return mapped_values(self.mapping, self.context, self.field_types)

    def decide(self, current: Mapping[str, str | None] | None = None) -> Plan:
        values, rejected = self.values
        return decide(
            policy=self.policy,
            channel_enabled=self.channel_enabled,
            identification=self.identification,
            current=self.current if current is None else current,
            values=values,
            rejected=rejected,
            field_types=self.field_types,
            requester_is_visitor=self.context.requester_is_visitor,
        )

    def type_of(self, field: str) -> str | None:
        return next(
            (t for f, t in self.field_types.items() if f.casefold() == field.casefold()), None
        )

    def current_value(self, field: str) -> str | None:
        assert self.current is not None
        return next((v for f, v in self.current.items() if f.casefold() == field.casefold()), None)


def converted_or_raw(raw: str, *, field: str) -> str:
    try:
        return to_optimove_value(raw, ACCOUNT.get(field), field=field)
    except ValueRejected:
        return raw


@st.composite
def attribute_maps(draw: st.DrawFn) -> dict[str, str | None]:
    """A customer's attributes as Optimove returns them: some fields, some null or empty."""
    fields = draw(st.lists(st.sampled_from(list(ACCOUNT)), unique=True))
    attributes: dict[str, str | None] = {}
    for field in fields:
        value = draw(
            st.none() | st.just("") | samples_for(field).map(partial(converted_or_raw, field=field))
        )
        attributes[draw(spelled(field))] = value
    return attributes


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    mapping = draw(mappings())
    rules = tuple(draw(st.lists(st.sampled_from(ID_REFS), max_size=3)))
    refs = [m.comm100_field for m in mapping] + list(rules)
    account_fields = draw(st.lists(st.sampled_from(list(ACCOUNT)), unique=True, min_size=8))
    return Scenario(
        mapping=mapping,
        rules=rules,
        context=draw(contexts(refs)),
        link=draw(st.none() | st.sampled_from(["C-7", "  ", "c-1"])),
        policy=draw(mostly(policies, st.none())),
        channel_enabled=draw(mostly(st.just(True), st.just(False))),
        field_types={draw(spelled(f)): ACCOUNT[f] for f in account_fields},
        current=draw(mostly(attribute_maps(), st.none())),
    )


def mapped_fields(scenario: Scenario) -> set[str]:
    return {m.optimove_field.casefold() for m in scenario.mapping}


# --- the properties ------------------------------------------------------------------------


@given(scenarios())
def test_fill_empty_never_changes_a_non_empty_attribute(scenario: Scenario) -> None:
    plan = scenario.decide()
    if scenario.policy is not None and scenario.policy.update == "fill_empty" and scenario.current:
        for change in plan.changes:
            assert is_empty(scenario.current_value(change.field))
            assert is_empty(change.old)


@given(scenarios())
def test_update_none_never_writes_to_a_matched_customer(scenario: Scenario) -> None:
    plan = scenario.decide()
    if scenario.policy is not None and scenario.policy.update == "none" and scenario.current:
        assert plan.action == "none"
        assert plan.changes == ()


@given(scenarios())
def test_nothing_unchanged_is_written(scenario: Scenario) -> None:
    for change in scenario.decide().changes:
        assert change.new is not None  # only a restore empties a field
        assert change.old != change.new
        assert not same_value(change.old, change.new, scenario.type_of(change.field))


@given(scenarios())
def test_empty_comm100_values_never_erase(scenario: Scenario) -> None:
    for change in scenario.decide().changes:
        assert not is_empty(change.new)


@given(scenarios())
def test_changes_only_touch_mapped_fields_the_account_has(scenario: Scenario) -> None:
    plan = scenario.decide()
    fields = [change.field.casefold() for change in plan.changes]
    assert len(fields) == len(set(fields))
    known = {f.casefold() for f in scenario.field_types} | {
        f.casefold() for f in scenario.current or {}
    }
    for field in fields:
        assert field in mapped_fields(scenario)
        assert field in known
        assert field != "customerid"


@given(scenarios())
def test_unidentified_plans_never_write(scenario: Scenario) -> None:
    plan = scenario.decide()
    if scenario.identification.customer_id is None:
        assert plan.action == "none"
        assert plan.changes == ()
        assert plan.customer_id is None
        assert plan.outcome in ("unidentified", "needs_contact", "skipped")


@given(scenarios())
def test_the_decision_is_deterministic(scenario: Scenario) -> None:
    twin = copy.deepcopy(scenario)
    assert scenario.decide() == twin.decide() == scenario.decide()


@settings(max_examples=300)
@given(scenarios())
def test_creation_only_with_a_non_empty_identification_value(scenario: Scenario) -> None:
    plan = scenario.decide()
    if plan.action == "create":
        identification = scenario.identification
        assert identification.customer_id is not None
        assert not is_empty(identification.customer_id)
        assert plan.customer_id == identification.customer_id
        assert scenario.current is None
        assert scenario.policy is not None
        assert scenario.policy.no_match == "auto_create"
        assert not scenario.context.requester_is_visitor
        assert all(change.old is None for change in plan.changes)


@given(scenarios())
def test_the_outcome_matches_the_action(scenario: Scenario) -> None:
    plan = scenario.decide()
    if plan.action == "update":
        assert plan.outcome == "updated"
        assert plan.changes
        assert scenario.current is not None
    elif plan.action == "create":
        assert plan.outcome == "created"
    else:
        assert plan.changes == ()
        assert plan.outcome not in ("created", "updated", "failed", "pending")
    assert plan.reason


@given(scenarios())
def test_a_disabled_channel_or_an_event_without_a_policy_is_skipped(scenario: Scenario) -> None:
    plan = scenario.decide()
    assert (plan.outcome == "skipped") == (not scenario.channel_enabled or scenario.policy is None)


@given(scenarios())
def test_only_identified_matched_customers_are_updated_and_missing_ones_created(
    scenario: Scenario,
) -> None:
    plan = scenario.decide()
    if scenario.current is None:
        assert plan.action != "update"
    else:
        assert plan.action != "create"
        assert plan.outcome not in ("no_match", "created")


@given(scenarios())
def test_writing_the_plan_then_deciding_again_writes_nothing_more(scenario: Scenario) -> None:
    plan = scenario.decide()
    if plan.action == "none":
        return
    after = dict(scenario.current or {})
    for change in plan.changes:
        for field in [f for f in after if f.casefold() == change.field.casefold()]:
            del after[field]
        after[change.field] = change.new
    assert scenario.decide(current=after).changes == ()


@given(scenarios())
def test_every_non_empty_mapped_value_is_either_written_or_known_or_rejected(
    scenario: Scenario,
) -> None:
    values, rejected = scenario.values
    assert all(not is_empty(value) for value in values.values())
    assert not set(values) & {field for field, _ in rejected}
    plan = scenario.decide()
    if plan.action == "create":
        written = {change.field.casefold() for change in plan.changes}
        left_out = {field.casefold() for field, _ in plan.rejected}
        assert {field.casefold() for field in values} <= written | left_out


@given(scenarios(), st.integers(1, 30))
def test_attribute_chunks_never_exceed_ten_and_keep_every_change_in_order(
    scenario: Scenario, size: int
) -> None:
    changes = scenario.decide().changes
    chunks = attribute_chunks(changes, size)
    assert all(1 <= len(chunk) <= min(size, 10) for chunk in chunks)
    assert [change for chunk in chunks for change in chunk] == list(changes)


@given(
    st.lists(
        st.builds(Change, nasty_text(max_size=5), st.none() | nasty_text(max_size=3), nasty_text())
    ),
    st.integers(1, 30),
)
def test_attribute_chunks_of_any_changes(changes: list[Change], size: int) -> None:
    chunks = attribute_chunks(changes, size)
    assert all(1 <= len(chunk) <= min(size, 10) for chunk in chunks)
    assert [change for chunk in chunks for change in chunk] == changes
    assert len(chunks) == -(-len(changes) // min(size, 10))


@given(scenarios())
def test_the_fields_an_event_sets_are_what_optimove_holds_from_it_afterwards(
    scenario: Scenario,
) -> None:
    """`asserted`: every field written, and under `overwrite` every value already equal too
    (an older event applied later must leave all of them alone); nothing else."""
    plan = scenario.decide()
    asserted = {field.casefold() for field in plan.asserted}
    written = {change.field.casefold() for change in plan.changes}
    assert written <= asserted
    if plan.action == "none" and plan.outcome != "unchanged":
        assert asserted == set()
    if scenario.policy is None or scenario.policy.update != "overwrite" or plan.action == "create":
        assert asserted == written
        return
    values, _ = scenario.values
    refused = {field.casefold() for field, _ in plan.rejected}
    for field in asserted - written:
        # Found equal: the customer already holds this event's value.
        value = values[next(f for f in values if f.casefold() == field)]
        assert same_value(scenario.current_value(field), value, scenario.type_of(field))
        assert field not in refused
