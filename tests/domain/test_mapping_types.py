"""Which mappings are worth a warning when saved: a Comm100 field whose values may not fit the
typed Optimove attribute it fills."""

from __future__ import annotations

from typing import Any

import pytest

from optibridge.domain.mapping_types import Comm100Kind, comm100_kind, type_mismatches
from optibridge.domain.settings import FieldSource, SiteSettings, validate_settings

TYPES: dict[str, str | None] = {
    "EMAIL": "Nvarchar(200)",
    "AGE": "Bigint",
    "BALANCE": "Decimal(19,4)",
    "DATE_OF_BIRTH": "Date",
    "OPT_IN": "Bit",
    "VIP_LEVEL": None,
}


def settings(*mappings: tuple[str, str, str], channel: str = "livechat") -> SiteSettings:
    rule = (
        {"source": "custom_variable", "name": "customer_id"}
        if channel == "livechat"
        else {"source": "contact", "name": "Customer ID"}
    )
    section: dict[str, Any] = {
        "enabled": True,
        "identification": [rule],
        "field_mapping": [
            {"optimove_field": field, "comm100_field": {"source": source, "name": name}}
            for field, source, name in mappings
        ],
    }
    return validate_settings({channel: section}, known_attributes=None, allow_private_urls=True)


def test_a_whole_number_filled_from_a_text_field_is_named_with_the_reason() -> None:
    [mismatch] = type_mismatches(settings(("AGE", "system", "name")), TYPES, {})
    assert mismatch.pointer == "/livechat/field_mapping/0/optimove_field"
    assert mismatch.optimove_field == "AGE"
    assert mismatch.message == (
        "AGE takes whole numbers in Optimove (Bigint), but system field 'name' is text in"
        " Comm100: a value that isn't a whole number will be left out of Optimove, and the sync"
        " log will say why"
    )


@pytest.mark.parametrize("field", ["EMAIL", "VIP_LEVEL", "SHOE_SIZE"])
def test_text_attributes_and_unknown_ones_take_anything(field: str) -> None:
    assert type_mismatches(settings((field, "system", "name")), TYPES, {}) == []


@pytest.mark.parametrize(
    ("field", "kind"),
    [("AGE", "number"), ("BALANCE", "number"), ("DATE_OF_BIRTH", "date"), ("OPT_IN", "boolean")],
)
def test_a_comm100_field_of_the_same_kind_fits(field: str, kind: Comm100Kind) -> None:
    kinds: dict[tuple[FieldSource, str], Comm100Kind] = {("prechat", "answer"): kind}
    assert type_mismatches(settings((field, "prechat", "Answer")), TYPES, kinds) == []


def test_a_comm100_field_of_unknown_kind_is_not_warned_about() -> None:
    assert type_mismatches(settings(("AGE", "custom_variable", "age")), TYPES, {}) == []


def test_the_offline_forms_own_fields_are_text_and_its_custom_ones_as_typed() -> None:
    kinds: dict[tuple[FieldSource, str], Comm100Kind] = {("offline", "age"): "number"}
    mapped = settings(("AGE", "offline", "Age"), ("BALANCE", "offline", "subject"))
    assert [m.optimove_field for m in type_mismatches(mapped, TYPES, kinds)] == ["BALANCE"]


def test_a_ticket_contacts_identity_is_text() -> None:
    mapped = settings(("DATE_OF_BIRTH", "identity", "Email"), channel="ticketing")
    [mismatch] = type_mismatches(mapped, TYPES, {})
    assert mismatch.pointer == "/ticketing/field_mapping/0/optimove_field"
    assert "takes dates in Optimove (Date)" in mismatch.message


def test_attribute_names_match_in_any_case() -> None:
    [mismatch] = type_mismatches(settings(("age", "system", "name")), TYPES, {})
    assert mismatch.optimove_field == "AGE"


@pytest.mark.parametrize(
    ("comm100_type", "kind"),
    [
        ("text", "text"),
        ("textArea", "text"),
        ("email", "text"),
        ("dropDownList", "text"),
        ("number", "number"),
        ("Numeric", "number"),
        ("date", "date"),
        ("dateTime", "date"),
        ("checkBox", "boolean"),
        (None, None),
        ("  ", None),
    ],
)
def test_comm100_types_are_read_as_kinds(comm100_type: str | None, kind: str | None) -> None:
    assert comm100_kind(comm100_type) == kind
