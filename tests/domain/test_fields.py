"""A `FieldRef` read from a conversation (SPEC 2: the sources of each channel)."""

from __future__ import annotations

from typing import Any

import pytest

from optibridge.domain.context import ConversationContext
from optibridge.domain.fields import describe, lookup, resolve
from optibridge.domain.settings import FieldRef, FieldSource


def ref(source: FieldSource, name: str) -> FieldRef:
    return FieldRef(source=source, name=name)


def chat(**sources: Any) -> ConversationContext:
    return ConversationContext(channel="livechat", event="chat_ended", **sources)


def ticket(**sources: Any) -> ConversationContext:
    return ConversationContext(channel="ticketing", event="ticket_created", **sources)


@pytest.mark.parametrize(
    ("field", "context", "expected"),
    [
        (ref("system", "email"), chat(system={"email": "ann@example.com"}), "ann@example.com"),
        (ref("prechat", "First Name"), chat(prechat={"First Name": "Ann"}), "Ann"),
        (ref("offline", "subject"), chat(offline={"subject": "Refund"}), "Refund"),
        (ref("custom_variable", "vip"), chat(custom_variables={"vip": "gold"}), "gold"),
        (ref("contact", "Customer ID"), ticket(contact={"Customer ID": "C-9"}), "C-9"),
        (
            ref("identity", "Email"),
            ticket(identities={"Email": "ann@example.com"}),
            "ann@example.com",
        ),
    ],
)
def test_each_source_is_read_from_its_part_of_the_conversation(
    field: FieldRef, context: ConversationContext, expected: str
) -> None:
    assert resolve(field, context) == expected


def test_a_value_is_trimmed() -> None:
    assert resolve(ref("custom_variable", "vip"), chat(custom_variables={"vip": "  gold \n"})) == (
        "gold"
    )


@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_a_blank_value_is_absent(value: str) -> None:
    assert resolve(ref("custom_variable", "vip"), chat(custom_variables={"vip": value})) is None


def test_a_missing_field_is_absent() -> None:
    assert resolve(ref("custom_variable", "vip"), chat(custom_variables={"tier": "gold"})) is None


def test_a_field_of_another_source_is_not_read() -> None:
    assert resolve(ref("prechat", "vip"), chat(custom_variables={"vip": "gold"})) is None


def test_the_name_as_typed_wins_over_a_case_insensitive_match() -> None:
    context = chat(prechat={"first name": "lower", "First Name": "exact"})
    assert resolve(ref("prechat", "First Name"), context) == "exact"


def test_a_name_falls_back_to_a_case_insensitive_match() -> None:
    context = chat(prechat={"FIRST NAME ": "Ann"})
    assert resolve(ref("prechat", "First Name"), context) == "Ann"


def test_an_exact_name_with_a_blank_value_falls_back_to_another_spelling() -> None:
    context = chat(custom_variables={"VIP": "", "vip": "gold"})
    assert resolve(ref("custom_variable", "VIP"), context) == "gold"


def test_identity_types_match_case_insensitively() -> None:
    # FieldRef keeps Comm100's spelling ("Email"); a parser may have kept the payload's.
    assert resolve(ref("identity", "email"), ticket(identities={"email": "a@b.co"})) == "a@b.co"


def test_a_visitor_field_falls_back_to_the_offline_message_form() -> None:
    context = ConversationContext(
        channel="livechat",
        event="offline_message_submitted",
        offline={"email": "ann@example.com", "name": "Ann"},
    )
    assert resolve(ref("system", "email"), context) == "ann@example.com"
    assert resolve(ref("system", "name"), context) == "Ann"


def test_the_visitor_field_wins_over_the_offline_message_form() -> None:
    context = chat(system={"email": "visitor@example.com"}, offline={"email": "form@example.com"})
    assert resolve(ref("system", "email"), context) == "visitor@example.com"


def test_only_the_system_fields_of_the_offline_form_fall_back() -> None:
    assert resolve(ref("system", "city"), chat(offline={"city": "Paris"})) is None


def test_json_scalars_kept_by_a_parser_are_read_as_text() -> None:
    context = ConversationContext.from_json(
        {
            "channel": "livechat",
            "event": "chat_ended",
            "custom_variables": {"age": 42, "vip": True, "score": 1.5, "none": None},
        }
    )
    assert resolve(ref("custom_variable", "age"), context) == "42"
    assert resolve(ref("custom_variable", "vip"), context) == "true"
    assert resolve(ref("custom_variable", "score"), context) == "1.5"
    assert resolve(ref("custom_variable", "none"), context) is None


def test_lookup_skips_values_that_are_not_scalars() -> None:
    assert lookup({"x": ["a"], "X": "b"}, "x") == "b"


@pytest.mark.parametrize(
    ("field", "words"),
    [
        (ref("system", "email"), "system field 'email'"),
        (ref("prechat", "First Name"), "pre-chat field 'First Name'"),
        (ref("offline", "subject"), "offline message field 'subject'"),
        (ref("custom_variable", "customer_id"), "custom variable 'customer_id'"),
        (ref("contact", "Customer ID"), "contact field 'Customer ID'"),
        (ref("identity", "Email"), "contact identity 'Email'"),
    ],
)
def test_a_field_is_described_in_words(field: FieldRef, words: str) -> None:
    assert describe(field) == words
