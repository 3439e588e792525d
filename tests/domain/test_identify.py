"""Identification (SPEC 4.1): rules in order, the remembered link, e-mails case-insensitively."""

from __future__ import annotations

import pytest

from optibridge.domain.context import ConversationContext
from optibridge.domain.identify import (
    Identification,
    identify,
    is_email_field,
    looks_like_email,
    normalize_customer_id,
)
from optibridge.domain.settings import FieldRef, FieldSource


def ref(source: FieldSource, name: str) -> FieldRef:
    return FieldRef(source=source, name=name)


CUSTOMER_ID = ref("custom_variable", "customer_id")
EMAIL = ref("system", "email")
RULES = (CUSTOMER_ID, EMAIL)


def chat(
    *, custom_variables: dict[str, str] | None = None, system: dict[str, str] | None = None
) -> ConversationContext:
    return ConversationContext(
        channel="livechat",
        event="chat_ended",
        custom_variables=custom_variables or {},
        system=system or {},
        subject_kind="visitor",
        subject_id="visitor-guid",
    )


def test_the_first_rule_with_a_value_identifies_the_customer() -> None:
    context = chat(custom_variables={"customer_id": "C-1"}, system={"email": "ann@example.com"})
    assert identify(RULES, context, None) == Identification("C-1", "rule", CUSTOMER_ID, ())


def test_a_rule_without_a_value_falls_back_to_the_next() -> None:
    context = chat(system={"email": "ann@example.com"})
    assert identify(RULES, context, None) == Identification("ann@example.com", "rule", EMAIL, ())


def test_a_blank_value_does_not_identify() -> None:
    context = chat(custom_variables={"customer_id": "   "}, system={"email": "ann@example.com"})
    assert identify(RULES, context, None).rule == EMAIL


def test_the_rules_order_decides() -> None:
    context = chat(custom_variables={"customer_id": "C-1"}, system={"email": "ann@example.com"})
    assert identify((EMAIL, CUSTOMER_ID), context, None).customer_id == "ann@example.com"


def test_a_value_is_trimmed() -> None:
    context = chat(custom_variables={"customer_id": "  C-1 \t"})
    assert identify(RULES, context, None).customer_id == "C-1"


def test_without_a_rule_value_the_remembered_link_identifies() -> None:
    assert identify(RULES, chat(), "C-7") == Identification("C-7", "link", None, ())


def test_a_rule_value_different_from_the_link_wins() -> None:
    context = chat(custom_variables={"customer_id": "C-1"})
    assert identify(RULES, context, "C-7") == Identification("C-1", "rule", CUSTOMER_ID, ())


def test_a_blank_link_does_not_identify() -> None:
    assert identify(RULES, chat(), "  ").customer_id is None


def test_unidentified_names_every_rules_field_as_missing() -> None:
    assert identify(RULES, chat(), None) == Identification(None, None, None, RULES)


def test_a_rule_listed_twice_is_missing_once() -> None:
    assert identify((EMAIL, CUSTOMER_ID, EMAIL), chat(), None).missing == (EMAIL, CUSTOMER_ID)


def test_without_rules_or_link_nothing_is_missing_and_nobody_is_identified() -> None:
    identification = identify((), chat(), None)
    assert identification == Identification(None, None, None, ())
    assert not identification.identified


def test_missing_fields_are_described_for_the_agent() -> None:
    assert identify(RULES, chat(), None).missing_description() == (
        "custom variable 'customer_id', system field 'email'"
    )


def test_an_email_field_is_compared_case_insensitively() -> None:
    context = chat(system={"email": "Ann.Smith@Example.COM"})
    assert identify(RULES, context, None).customer_id == "ann.smith@example.com"


def test_an_email_identity_is_compared_case_insensitively() -> None:
    context = ConversationContext(
        channel="ticketing",
        event="ticket_created",
        identities={"Email": "Ann@Example.com"},
        subject_kind="contact",
    )
    identity = ref("identity", "Email")
    assert identify((identity,), context, None) == Identification(
        "ann@example.com", "rule", identity, ()
    )


def test_an_offline_email_field_is_lower_cased_even_when_it_is_not_an_address() -> None:
    context = ConversationContext(
        channel="livechat", event="offline_message_submitted", offline={"email": "ABC123"}
    )
    assert identify((ref("offline", "email"),), context, None).customer_id == "abc123"


def test_an_address_in_any_field_is_lower_cased() -> None:
    context = chat(custom_variables={"customer_id": "Ann@Example.com"})
    assert identify(RULES, context, None).customer_id == "ann@example.com"


def test_a_customer_id_that_is_not_an_email_keeps_its_case() -> None:
    context = chat(custom_variables={"customer_id": "AbC-123"})
    assert identify(RULES, context, None).customer_id == "AbC-123"


@pytest.mark.parametrize(
    ("field", "is_email"),
    [
        (ref("system", "email"), True),
        (ref("offline", "Email"), True),
        (ref("identity", "Email"), True),
        (ref("prechat", "E-mail"), True),
        (ref("contact", "Email Address"), True),
        (ref("system", "name"), False),
        (ref("identity", "SSOID"), False),
        (ref("custom_variable", "email_opt_in"), False),
    ],
)
def test_email_fields_are_recognised_by_name(field: FieldRef, is_email: bool) -> None:
    assert is_email_field(field) is is_email


@pytest.mark.parametrize(
    ("value", "looks"),
    [("a@b.co", True), ("first.last+tag@mail.example.com", True), ("a@b", False), ("C-1", False)],
)
def test_what_looks_like_an_email(value: str, looks: bool) -> None:
    assert looks_like_email(value) is looks


@pytest.mark.parametrize(
    ("value", "field", "expected"),
    [
        (None, None, None),
        ("  ", None, None),
        (" C-1 ", None, "C-1"),
        ("A@B.CO", None, "a@b.co"),
        ("ABC", ref("system", "email"), "abc"),
        ("ABC", ref("custom_variable", "customer_id"), "ABC"),
    ],
)
def test_customer_ids_are_normalised_for_lookup_and_creation(
    value: str | None, field: FieldRef | None, expected: str | None
) -> None:
    assert normalize_customer_id(value, field) == expected
