"""The decision for every row of SPEC 4.2, one scenario per test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from optibridge.domain.context import ConversationContext
from optibridge.domain.decide import (
    Change,
    Plan,
    attribute_chunks,
    decide,
    mapped_values,
    without_later_values,
)
from optibridge.domain.identify import Identification
from optibridge.domain.settings import (
    EventPolicy,
    FieldMapping,
    FieldRef,
    FieldSource,
    NoMatchOperation,
    UpdateStrategy,
)


def ref(source: FieldSource, name: str) -> FieldRef:
    return FieldRef(source=source, name=name)


FIELD_TYPES: dict[str, str | None] = {
    "EMAIL": "Nvarchar(100)",
    "FIRST_NAME": "Nvarchar(50)",
    "PHONE": "Nvarchar(30)",
    "AGE": "Bigint",
    "BALANCE": "Decimal(18,2)",
    "DATE_OF_BIRTH": "Date",
    "OPT_IN_EMAIL": "Bit",
    "VIP_LEVEL": None,
}
IDENTIFIED = Identification("C-1", "rule", ref("custom_variable", "customer_id"), ())
UNIDENTIFIED = Identification(
    None, None, None, (ref("custom_variable", "customer_id"), ref("system", "email"))
)
V = {"EMAIL": "ann@example.com", "FIRST_NAME": "Ann", "AGE": "42"}
ALL_POLICIES = [
    EventPolicy(update=update, no_match=no_match)
    for update in ("none", "overwrite", "fill_empty")
    for no_match in ("auto_create", "agent_create", "never")
]


def policy(
    update: UpdateStrategy = "overwrite", no_match: NoMatchOperation = "agent_create"
) -> EventPolicy:
    return EventPolicy(update=update, no_match=no_match)


def run(
    *,
    event_policy: EventPolicy | None = None,
    update: UpdateStrategy = "overwrite",
    no_match: NoMatchOperation = "agent_create",
    channel_enabled: bool = True,
    identification: Identification = IDENTIFIED,
    current: Mapping[str, str | None] | None = None,
    values: Mapping[str, str] = V,
    rejected: Sequence[tuple[str, str]] = (),
    field_types: Mapping[str, str | None] = FIELD_TYPES,
    requester_is_visitor: bool = False,
    origin: str = "Comm100",
) -> Plan:
    return decide(
        policy=event_policy or policy(update, no_match),
        channel_enabled=channel_enabled,
        identification=identification,
        current=current,
        values=values,
        rejected=rejected,
        field_types=field_types,
        requester_is_visitor=requester_is_visitor,
        origin=origin,
    )


# --- skipped -------------------------------------------------------------------------------


def test_an_event_of_a_disabled_channel_is_skipped() -> None:
    plan = run(channel_enabled=False, current={"EMAIL": None})
    assert plan.outcome == "skipped"
    assert plan.action == "none"
    assert plan.changes == ()
    assert "not enabled" in plan.reason


def test_an_event_without_a_policy_is_skipped() -> None:
    plan = decide(
        policy=None,
        channel_enabled=True,
        identification=IDENTIFIED,
        current={"EMAIL": None},
        values=V,
        rejected=(),
        field_types=FIELD_TYPES,
        requester_is_visitor=False,
    )
    assert (plan.outcome, plan.action, plan.changes) == ("skipped", "none", ())
    assert plan.reason == "this event is only recorded: it changes nothing in Optimove"


# --- unidentified --------------------------------------------------------------------------


@pytest.mark.parametrize("event_policy", ALL_POLICIES, ids=str)
def test_an_unidentified_conversation_is_unidentified_whatever_the_policy(
    event_policy: EventPolicy,
) -> None:
    plan = run(event_policy=event_policy, identification=UNIDENTIFIED)
    assert (plan.outcome, plan.action, plan.customer_id, plan.changes) == (
        "unidentified",
        "none",
        None,
        (),
    )


def test_an_unidentified_conversation_names_the_missing_fields() -> None:
    plan = run(identification=UNIDENTIFIED)
    assert plan.reason == (
        "no identification rule gave a value: custom variable 'customer_id', system field 'email'"
    )


def test_an_unidentified_conversation_says_when_agents_may_not_create() -> None:
    plan = run(identification=UNIDENTIFIED, no_match="never")
    assert plan.reason.endswith("(agents may not create customers)")


def test_an_unidentified_ticket_from_a_visitor_needs_a_contact() -> None:
    plan = run(identification=UNIDENTIFIED, no_match="auto_create", requester_is_visitor=True)
    assert (plan.outcome, plan.action) == ("needs_contact", "none")
    assert "must become a contact" in plan.reason


def test_a_blank_customer_id_counts_as_unidentified() -> None:
    plan = run(identification=Identification("  ", "rule", None, ()), no_match="auto_create")
    assert (plan.outcome, plan.action) == ("unidentified", "none")


# --- matched -------------------------------------------------------------------------------


def test_a_matched_customer_with_update_none_is_unchanged_and_nothing_is_written() -> None:
    plan = run(update="none", current={"EMAIL": None, "FIRST_NAME": "Old", "AGE": "1"})
    assert plan == Plan(
        outcome="unchanged",
        reason="the update strategy is 'none', so nothing was written to customer C-1",
        customer_id="C-1",
        action="none",
        changes=(),
        rejected=(),
    )


def test_overwrite_writes_every_mapped_field_whose_value_differs() -> None:
    plan = run(
        update="overwrite",
        current={"EMAIL": "old@example.com", "FIRST_NAME": None, "AGE": "42", "PHONE": "1"},
    )
    assert plan.outcome == "updated"
    assert plan.action == "update"
    assert plan.customer_id == "C-1"
    # AGE was already 42: written or not, Optimove holds this event's value for all three.
    assert plan.asserted == ("EMAIL", "FIRST_NAME", "AGE")
    assert plan.changes == (
        Change("EMAIL", "old@example.com", "ann@example.com"),
        Change("FIRST_NAME", None, "Ann"),
    )
    assert plan.reason == "EMAIL and FIRST_NAME were updated from Comm100"


def test_overwrite_compares_values_as_the_column_does() -> None:
    plan = run(
        update="overwrite",
        values={
            "AGE": "42",
            "BALANCE": "10.50",
            "DATE_OF_BIRTH": "1990-05-01",
            "OPT_IN_EMAIL": "1",
        },
        current={
            "AGE": "42.0",
            "BALANCE": "10.5000",
            "DATE_OF_BIRTH": "1990-05-01 00:00:00",
            "OPT_IN_EMAIL": "True",
        },
    )
    assert (plan.outcome, plan.action, plan.changes) == ("unchanged", "none", ())
    assert plan.reason == "every mapped value already equals Optimove's"


def test_overwrite_never_erases_a_value_that_comm100_does_not_have() -> None:
    plan = run(
        update="overwrite",
        values={"EMAIL": "ann@example.com", "PHONE": ""},
        current={"EMAIL": "ann@example.com", "PHONE": "+44 20 7946 0000"},
    )
    assert plan.changes == ()


def test_fill_empty_writes_only_fields_empty_in_optimove() -> None:
    plan = run(
        update="fill_empty",
        values={"EMAIL": "ann@example.com", "PHONE": "+1 555 0100", "FIRST_NAME": "Ann"},
        current={"EMAIL": "", "PHONE": None, "FIRST_NAME": "Annie"},
        origin="the chat",
    )
    assert plan.changes == (
        Change("EMAIL", "", "ann@example.com"),
        Change("PHONE", None, "+1 555 0100"),
    )
    assert plan.outcome == "updated"
    assert plan.reason == "EMAIL and PHONE were empty in Optimove and filled from the chat"


def test_fill_empty_fills_an_attribute_the_customer_read_did_not_return() -> None:
    plan = run(update="fill_empty", values={"AGE": "42"}, current={})
    assert plan.changes == (Change("AGE", None, "42"),)
    assert plan.reason == "AGE was empty in Optimove and filled from Comm100"


def test_fill_empty_treats_a_blank_attribute_as_empty() -> None:
    plan = run(update="fill_empty", values={"FIRST_NAME": "Ann"}, current={"FIRST_NAME": "  "})
    assert plan.changes == (Change("FIRST_NAME", "  ", "Ann"),)


def test_fill_empty_never_overwrites_a_non_empty_value() -> None:
    plan = run(update="fill_empty", current={"EMAIL": "x@y.co", "FIRST_NAME": "B", "AGE": "7"})
    assert (plan.outcome, plan.action, plan.changes) == ("unchanged", "none", ())
    assert plan.reason == "every mapped field with a value was already filled in Optimove"


def test_nothing_to_write_because_comm100_had_no_values_is_unchanged() -> None:
    plan = run(update="overwrite", values={}, current={"EMAIL": None}, origin="the chat")
    assert (plan.outcome, plan.action) == ("unchanged", "none")
    assert plan.reason == "no mapped field had a value in the chat that could be written"


def test_a_matched_ticket_from_a_visitor_still_follows_the_update_strategy() -> None:
    plan = run(update="fill_empty", current={"EMAIL": None}, requester_is_visitor=True)
    assert plan.outcome == "updated"
    assert plan.changes[0] == Change("EMAIL", None, "ann@example.com")


def test_a_customer_found_through_the_link_is_updated_like_any_other() -> None:
    plan = run(identification=Identification("C-7", "link", None, ()), current={"AGE": "1"})
    assert plan.customer_id == "C-7"
    assert Change("AGE", "1", "42") in plan.changes


# --- no match ------------------------------------------------------------------------------


def test_no_match_with_auto_create_creates_the_customer_with_the_mapped_values() -> None:
    plan = run(no_match="auto_create", current=None, origin="the offline message")
    assert plan == Plan(
        outcome="created",
        reason=(
            "customer C-1 was not in Optimove: created it with EMAIL, FIRST_NAME and AGE from"
            " the offline message"
        ),
        customer_id="C-1",
        action="create",
        changes=(
            Change("EMAIL", None, "ann@example.com"),
            Change("FIRST_NAME", None, "Ann"),
            Change("AGE", None, "42"),
        ),
        rejected=(),
        asserted=("EMAIL", "FIRST_NAME", "AGE"),
    )
    assert plan.attributes == dict(V)


def test_no_match_with_auto_create_and_no_values_creates_the_bare_customer() -> None:
    plan = run(no_match="auto_create", values={}, current=None)
    assert (plan.outcome, plan.action, plan.changes) == ("created", "create", ())
    assert "created it without attributes" in plan.reason


@pytest.mark.parametrize("update", ["none", "overwrite", "fill_empty"])
def test_creation_does_not_depend_on_the_update_strategy(update: UpdateStrategy) -> None:
    assert run(update=update, no_match="auto_create", current=None).action == "create"


def test_no_match_with_agent_create_writes_nothing() -> None:
    plan = run(no_match="agent_create", current=None)
    assert (plan.outcome, plan.action, plan.changes) == ("no_match", "none", ())
    assert plan.reason == "customer C-1 is not in Optimove; agents may create it"


def test_no_match_with_never_writes_nothing() -> None:
    plan = run(no_match="never", current=None)
    assert (plan.outcome, plan.action, plan.changes) == ("no_match", "none", ())
    assert plan.reason == "customer C-1 is not in Optimove, and creating customers is not allowed"


@pytest.mark.parametrize("no_match", ["auto_create", "agent_create"])
def test_no_match_for_a_ticket_from_a_visitor_needs_a_contact(no_match: NoMatchOperation) -> None:
    plan = run(no_match=no_match, current=None, requester_is_visitor=True)
    assert (plan.outcome, plan.action, plan.customer_id) == ("needs_contact", "none", "C-1")
    assert "must become a contact before the customer can be created" in plan.reason


def test_no_match_for_a_ticket_from_a_visitor_when_creation_is_not_allowed_is_no_match() -> None:
    plan = run(no_match="never", current=None, requester_is_visitor=True)
    assert plan.outcome == "no_match"


# --- what is never written -----------------------------------------------------------------


def test_customer_id_is_never_written_as_an_attribute() -> None:
    field_types = {**FIELD_TYPES, "CustomerID": "Nvarchar"}
    plan = run(values={"CUSTOMERID": "C-2", "AGE": "42"}, current={}, field_types=field_types)
    assert plan.changes == (Change("AGE", None, "42"),)
    assert plan.rejected == (
        ("CUSTOMERID", "CustomerID identifies the customer and is never written as an attribute"),
    )


def test_customer_id_is_not_an_attribute_of_a_created_customer() -> None:
    plan = run(no_match="auto_create", values={"CustomerID": "C-2"}, current=None)
    assert (plan.action, plan.changes) == ("create", ())


def test_a_field_unknown_to_the_account_is_left_out_with_the_reason() -> None:
    plan = run(values={"SHOE_SIZE": "42", "AGE": "42"}, current={"AGE": None})
    assert plan.changes == (Change("AGE", None, "42"),)
    assert plan.rejected == (
        ("SHOE_SIZE", "SHOE_SIZE is not an attribute of the Optimove account"),
    )
    assert plan.reason == (
        "AGE was updated from Comm100"
        " (1 value left out: SHOE_SIZE is not an attribute of the Optimove account)"
    )


def test_a_field_the_customer_has_counts_as_known_even_without_its_type() -> None:
    plan = run(values={"SHOE_SIZE": "42"}, current={"SHOE_SIZE": "41"}, field_types={})
    assert plan.changes == (Change("SHOE_SIZE", "41", "42"),)


def test_field_names_match_case_insensitively_and_are_written_as_the_account_spells_them() -> None:
    plan = run(
        values={"age": "42", "Email": "a@b.co"},
        current={"AGE": "41", "email": "a@b.co"},
        field_types={"Age": "Bigint", "EMAIL": "Nvarchar"},
    )
    assert plan.changes == (Change("Age", "41", "42"),)


def test_a_field_given_twice_in_different_cases_is_written_once() -> None:
    plan = run(values={"AGE": "42", "age": "43"}, current={"AGE": None})
    assert plan.changes == (Change("AGE", None, "42"),)
    assert plan.rejected == (("age", "AGE is mapped twice; its first value was used"),)


def test_values_that_could_not_be_converted_are_reported_and_not_fatal() -> None:
    rejected = (("DATE_OF_BIRTH", "'01/02/2024' is ambiguous: 1 February or 2 January 2024"),)
    plan = run(current={"AGE": None}, values={"AGE": "42"}, rejected=rejected)
    assert plan.changes == (Change("AGE", None, "42"),)
    assert plan.rejected == rejected
    assert plan.reason.endswith(
        "(1 value left out: DATE_OF_BIRTH: '01/02/2024' is ambiguous: 1 February or 2 January 2024)"
    )


def test_rejections_are_kept_when_nothing_is_written() -> None:
    rejected = (("AGE", "'abc' is not a whole number (AGE is Bigint)"),)
    assert run(channel_enabled=False, rejected=rejected).rejected == rejected
    assert run(identification=UNIDENTIFIED, rejected=rejected).rejected == rejected


# --- mapped values -------------------------------------------------------------------------

MAPPING = (
    FieldMapping(optimove_field="EMAIL", comm100_field=ref("system", "email")),
    FieldMapping(optimove_field="FIRST_NAME", comm100_field=ref("prechat", "First Name")),
    FieldMapping(optimove_field="AGE", comm100_field=ref("custom_variable", "age")),
    FieldMapping(optimove_field="DATE_OF_BIRTH", comm100_field=ref("custom_variable", "dob")),
    FieldMapping(optimove_field="VIP_LEVEL", comm100_field=ref("custom_variable", "vip")),
    FieldMapping(optimove_field="PHONE", comm100_field=ref("system", "phone")),
)


def test_mapped_values_are_the_non_empty_comm100_values_converted() -> None:
    context = ConversationContext(
        channel="livechat",
        event="chat_ended",
        system={"email": " ann@example.com ", "phone": "  "},
        prechat={"First Name": "Ann"},
        custom_variables={"age": "1,042", "dob": "/Date(641520000000)/", "vip": "gold"},
    )
    values, rejected = mapped_values(MAPPING, context, FIELD_TYPES)
    assert values == {
        "EMAIL": "ann@example.com",
        "FIRST_NAME": "Ann",
        "AGE": "1042",
        "DATE_OF_BIRTH": "1990-05-01",
        "VIP_LEVEL": "gold",
    }
    assert rejected == ()


def test_mapped_values_that_do_not_convert_are_rejected_with_the_reason() -> None:
    context = ConversationContext(
        channel="livechat",
        event="chat_ended",
        custom_variables={"age": "forty-two", "dob": "01/02/1990", "vip": "gold"},
    )
    values, rejected = mapped_values(MAPPING, context, FIELD_TYPES)
    assert values == {"VIP_LEVEL": "gold"}
    assert rejected == (
        ("AGE", "'forty-two' is not a whole number (AGE is Bigint)"),
        (
            "DATE_OF_BIRTH",
            "'01/02/1990' is ambiguous: 1 February or 2 January 1990 (DATE_OF_BIRTH is Date;"
            " write it as YYYY-MM-DD)",
        ),
    )


def test_each_value_left_out_is_explained_in_the_reason() -> None:
    mapping = (
        FieldMapping(optimove_field="EMAIL", comm100_field=ref("system", "email")),
        FieldMapping(optimove_field="AGE", comm100_field=ref("system", "name")),
        FieldMapping(optimove_field="DATE_OF_BIRTH", comm100_field=ref("system", "company")),
        FieldMapping(optimove_field="BALANCE", comm100_field=ref("system", "phone")),
    )
    context = ConversationContext(
        channel="livechat",
        event="chat_ended",
        system={"email": "ann@example.com", "name": "Ann", "company": "Acme", "phone": "n/a"},
    )
    values, rejected = mapped_values(mapping, context, FIELD_TYPES)
    plan = run(values=values, rejected=rejected, current={"EMAIL": None}, origin="the chat")
    assert plan.reason == (
        "EMAIL was updated from the chat (3 values left out:"
        " 'Ann' is not a whole number (AGE is Bigint);"
        " 'Acme' is not a date (DATE_OF_BIRTH is Date; write it as YYYY-MM-DD);"
        " 'n/a' is not a number (BALANCE is Decimal(18,2); write it like 1234.50))"
    )


def test_a_reason_names_the_field_a_value_was_left_out_of() -> None:
    plan = run(current={"AGE": None}, values={"AGE": "42"}, rejected=(("PHONE", "too long"),))
    assert plan.reason.endswith("(1 value left out: PHONE: too long)")


def test_mapped_values_find_the_field_type_case_insensitively() -> None:
    context = ConversationContext(
        channel="livechat", event="chat_ended", custom_variables={"age": "42.0"}
    )
    values, _ = mapped_values(MAPPING, context, {"Age": "Int"})
    assert values == {"AGE": "42"}


def test_a_mapped_field_unknown_to_the_account_is_kept_as_text_for_the_decision() -> None:
    context = ConversationContext(
        channel="livechat", event="chat_ended", custom_variables={"age": "forty-two"}
    )
    assert mapped_values(MAPPING, context, {}) == ({"AGE": "forty-two"}, ())


# --- chunks --------------------------------------------------------------------------------


def changes(count: int) -> list[Change]:
    return [Change(f"F{i}", None, str(i)) for i in range(count)]


def test_changes_are_split_into_chunks_of_ten() -> None:
    chunks = attribute_chunks(changes(23))
    assert [len(chunk) for chunk in chunks] == [10, 10, 3]
    assert [c for chunk in chunks for c in chunk] == changes(23)


def test_a_chunk_is_never_larger_than_ten_even_when_asked() -> None:
    assert [len(chunk) for chunk in attribute_chunks(changes(25), size=50)] == [10, 10, 5]


def test_smaller_chunks_can_be_asked_for() -> None:
    assert [len(chunk) for chunk in attribute_chunks(changes(5), size=2)] == [2, 2, 1]


def test_no_changes_make_no_chunks() -> None:
    assert attribute_chunks([]) == []


def test_a_chunk_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        attribute_chunks(changes(3), size=0)


# --- an older event processed after a later one --------------------------------------------


def test_an_older_event_leaves_alone_the_fields_a_later_event_wrote() -> None:
    values = {"EMAIL": "old@example.com", "PHONE": "+1 555"}
    kept, left_out = without_later_values(values, {"email": 91})
    assert kept == {"PHONE": "+1 555"}
    assert left_out == (("EMAIL", "record 91, a later event, already set EMAIL"),)


def test_nothing_written_later_keeps_every_value() -> None:
    values = {"EMAIL": "a@example.com"}
    assert without_later_values(values, {}) == (values, ())
