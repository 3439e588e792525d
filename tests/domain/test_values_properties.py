"""Properties of value conversion and comparison over generated values."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from optibridge.domain.values import (
    INTEGER_RANGES,
    ValueRejected,
    is_empty,
    parse_field_type,
    same_value,
    text_length,
    to_optimove_value,
)
from tests.support.strategies import nasty_text

FIELD_TYPES = [
    None,
    "Nvarchar",
    "Nvarchar(5)",
    "Nvarchar(max)",
    "Bigint",
    "Int",
    "Smallint",
    "Tinyint",
    "Decimal",
    "Decimal(18,2)",
    "Decimal(4,2)",
    "Float",
    "Date",
    "Datetime",
    "Bit",
]
field_types = st.sampled_from(FIELD_TYPES)
integer_types = st.sampled_from(sorted(INTEGER_RANGES))
dates = st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31))
# What people type: numbers, dates and words in many spellings, and junk.
raw_values = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.integers(-(10**9), 10**9).map(lambda n: f"{n:,}"),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(lambda d: f"{d:f}"),
    dates.map(date.isoformat),
    dates.map(lambda d: f"{d:%d.%m.%Y}"),
    st.sampled_from(["yes", "No", "true", "0", "1", "maybe", "", "  ", "5.0", "1.234,50"]),
    nasty_text(max_size=12),
)


@given(st.integers(), integer_types)
def test_a_whole_number_in_range_is_written_as_itself_and_out_of_range_is_rejected(
    number: int, field_type: str
) -> None:
    low, high = INTEGER_RANGES[field_type]
    if low <= number <= high:
        assert to_optimove_value(str(number), field_type, field="F") == str(number)
        assert to_optimove_value(f"{number:,}", field_type, field="F") == str(number)
        assert to_optimove_value(f" {number}.00 ", field_type, field="F") == str(number)
    else:
        with pytest.raises(ValueRejected, match="out of range"):
            to_optimove_value(str(number), field_type, field="F")


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4))
def test_a_decimal_keeps_its_value_with_or_without_thousands_separators(number: Decimal) -> None:
    for spelling in (f"{number:f}", f"{number:,f}"):
        written = to_optimove_value(spelling, "Decimal", field="F")
        assert Decimal(written) == number
        assert "," not in written
        assert same_value(written, f"{number:f}", "Decimal")


@given(dates)
def test_a_date_in_any_accepted_spelling_is_written_as_that_date(day: date) -> None:
    spellings = [
        day.isoformat(),
        f"{day:%Y/%m/%d}",
        f"{day:%Y%m%d}",
        f"{day:%d.%m.%Y}",
        f"{day.isoformat()}T13:45:10.5+05:30",
        f"{day.day} {day:%B} {day:%Y}",  # the C locale's English month names
        f"{day:%b} {day.day}, {day:%Y}",
    ]
    if day.day > 12:
        spellings += [f"{day:%d/%m/%Y}", f"{day:%m/%d/%Y}"]
    midnight = datetime.combine(day, time(), tzinfo=UTC)
    if day.year >= 1970:
        spellings.append(f"/Date({int(midnight.timestamp()) * 1000 + 1234})/")
    if date(1973, 3, 4) <= day <= date(2286, 11, 19):
        spellings += [str(int(midnight.timestamp()) + 60), str(int(midnight.timestamp()) * 1000)]
    for spelling in spellings:
        assert to_optimove_value(spelling, "Date", field="F") == day.isoformat(), spelling


@given(dates)
def test_a_day_and_month_that_could_be_swapped_are_rejected_as_ambiguous(day: date) -> None:
    assume(day.day <= 12 and day.day != day.month)
    with pytest.raises(ValueRejected, match="is ambiguous"):
        to_optimove_value(f"{day:%d/%m/%Y}", "Date", field="F")


@given(raw_values, field_types)
def test_conversion_gives_a_non_empty_value_that_converts_to_itself(
    raw: str, field_type: str | None
) -> None:
    try:
        written = to_optimove_value(raw, field_type, field="F")
    except ValueRejected as error:
        rejection = str(error)
        assert rejection  # always says why
        return
    if parse_field_type(field_type).kind != "text" or not is_empty(raw):
        assert not is_empty(written)
    assert to_optimove_value(written, field_type, field="F") == written
    assert same_value(written, written, field_type)


@given(nasty_text(max_size=30), st.integers(1, 20))
def test_text_is_never_changed_and_only_rejected_when_too_long(text: str, size: int) -> None:
    try:
        written = to_optimove_value(text, f"Nvarchar({size})", field="F")
    except ValueRejected:
        assert text_length(text) > size
    else:
        assert written == text
        assert text_length(text) <= size


@given(st.none() | raw_values, raw_values, field_types)
def test_same_value_is_symmetric(old: str | None, new: str, field_type: str | None) -> None:
    assert same_value(old, new, field_type) == (
        same_value(new, old, field_type) if old is not None else is_empty(new)
    )


@given(raw_values, field_types)
def test_same_value_is_reflexive(value: str, field_type: str | None) -> None:
    assert same_value(value, value, field_type)


@given(st.none() | raw_values, raw_values, field_types)
def test_an_empty_value_is_only_the_same_as_another_empty_value(
    old: str | None, new: str, field_type: str | None
) -> None:
    if is_empty(old) or is_empty(new):
        assert same_value(old, new, field_type) == (is_empty(old) and is_empty(new))
