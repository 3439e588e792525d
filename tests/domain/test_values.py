"""Comm100 values converted to Optimove's strings, and comparisons (SPEC 4.2: values are strings,
dates YYYY-MM-DD, numbers without locale)."""

from __future__ import annotations

import pytest

from optibridge.domain.values import (
    FieldType,
    ValueRejected,
    is_empty,
    parse_field_type,
    same_value,
    text_length,
    to_optimove_value,
)

# --- field types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field_type", "expected"),
    [
        (None, FieldType("text", "text", "text")),
        ("", FieldType("text", "text", "text")),
        ("Nvarchar", FieldType("Nvarchar", "text", "nvarchar")),
        ("Nvarchar(50)", FieldType("Nvarchar(50)", "text", "nvarchar", size=50)),
        ("nvarchar ( 50 )", FieldType("nvarchar ( 50 )", "text", "nvarchar", size=50)),
        ("Nvarchar(max)", FieldType("Nvarchar(max)", "text", "nvarchar")),
        ("Varchar(10)", FieldType("Varchar(10)", "text", "varchar", size=10)),
        ("Bigint", FieldType("Bigint", "integer", "bigint")),
        ("INT", FieldType("INT", "integer", "int")),
        ("Tinyint", FieldType("Tinyint", "integer", "tinyint")),
        ("Decimal", FieldType("Decimal", "decimal", "decimal")),
        (
            "Decimal(18,2)",
            FieldType("Decimal(18,2)", "decimal", "decimal", precision=18, scale=2),
        ),
        (
            "numeric(10)",
            FieldType("numeric(10)", "decimal", "numeric", precision=10, scale=0),
        ),
        ("Float", FieldType("Float", "decimal", "float")),
        ("Money", FieldType("Money", "decimal", "money")),
        ("Date", FieldType("Date", "date", "date")),
        ("Datetime", FieldType("Datetime", "date", "datetime")),
        ("datetime2(7)", FieldType("datetime2(7)", "date", "datetime2")),
        ("Bit", FieldType("Bit", "boolean", "bit")),
        ("Geography", FieldType("Geography", "text", "geography")),
        ("???", FieldType("???", "text", "???")),
    ],
)
def test_field_types_are_parsed_case_insensitively_and_unknown_ones_are_text(
    field_type: str | None, expected: FieldType
) -> None:
    assert parse_field_type(field_type) == expected


def test_an_integer_type_knows_its_range() -> None:
    assert parse_field_type("Tinyint").integer_range == (0, 255)
    assert parse_field_type("Decimal").integer_range is None


# --- whole numbers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field_type", "expected"),
    [
        ("42", "Bigint", "42"),
        ("  42  ", "Bigint", "42"),
        ("+42", "Int", "42"),
        ("-42", "Int", "-42"),
        ("007", "Int", "7"),
        ("-0", "Int", "0"),
        ("1,234", "Bigint", "1234"),
        ("1,234,567", "Bigint", "1234567"),
        ("1 234 567", "Bigint", "1234567"),
        ("1\u00a0234", "Bigint", "1234"),
        ("5.0", "Bigint", "5"),
        ("5.000", "Smallint", "5"),
        ("255", "Tinyint", "255"),
        ("0", "Tinyint", "0"),
        ("2147483647", "Int", "2147483647"),
        ("-2147483648", "Int", "-2147483648"),
        ("9223372036854775807", "Bigint", "9223372036854775807"),
    ],
)
def test_whole_numbers_are_written_in_plain_digits(
    raw: str, field_type: str, expected: str
) -> None:
    assert to_optimove_value(raw, field_type, field="AGE") == expected


@pytest.mark.parametrize(
    ("raw", "field_type", "why"),
    [
        ("abc", "Bigint", "'abc' is not a whole number (AGE is Bigint)"),
        ("5.5", "Int", "'5.5' is not a whole number (AGE is Int)"),
        ("1,23", "Int", "'1,23' is not a whole number (AGE is Int)"),
        ("12e3", "Int", "'12e3' is not a whole number (AGE is Int)"),
        ("$5", "Int", "'$5' is not a whole number (AGE is Int)"),
        ("--5", "Int", "'--5' is not a whole number (AGE is Int)"),
        ("", "Int", "the value is empty (AGE is Int)"),
        ("256", "Tinyint", "256 is out of range for AGE (Tinyint: 0 to 255)"),
        ("-1", "Tinyint", "-1 is out of range for AGE (Tinyint: 0 to 255)"),
        (
            "2147483648",
            "Int",
            "2147483648 is out of range for AGE (Int: -2147483648 to 2147483647)",
        ),
        ("40000", "Smallint", "40000 is out of range for AGE (Smallint: -32768 to 32767)"),
        ("9223372036854775808", "Bigint", "out of range for AGE (Bigint"),
        ("\u0664\u0662", "Int", "is not a whole number"),  # Arabic-Indic digits: no locale
    ],
)
def test_what_is_not_a_whole_number_in_range_is_rejected_with_the_reason(
    raw: str, field_type: str, why: str
) -> None:
    with pytest.raises(ValueRejected, match=None) as error:
        to_optimove_value(raw, field_type, field="AGE")
    assert why in str(error.value)


# --- other numbers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field_type", "expected"),
    [
        ("1234.50", "Decimal", "1234.50"),
        ("1,234.50", "Decimal", "1234.50"),
        ("1 234.50", "Decimal", "1234.50"),
        ("-1,234,567.125", "Float", "-1234567.125"),
        (".5", "Float", "0.5"),
        ("5.", "Float", "5"),
        ("007.50", "Decimal", "7.50"),
        ("-0.00", "Decimal", "0.00"),
        ("12.345", "Decimal(10,2)", "12.35"),
        ("-12.345", "Decimal(10,2)", "-12.35"),
        ("12.344", "Decimal(10,2)", "12.34"),
        ("9.995", "Decimal(4,2)", "10.00"),
        ("12.3", "Decimal(10,2)", "12.3"),
        ("0.5", "numeric(5)", "1"),
        ("99.99", "Decimal(4,2)", "99.99"),
        ("42", "Money", "42"),
    ],
)
def test_numbers_are_written_with_a_decimal_point_and_no_separators(
    raw: str, field_type: str, expected: str
) -> None:
    assert to_optimove_value(raw, field_type, field="BALANCE") == expected


@pytest.mark.parametrize(
    ("raw", "field_type", "why"),
    [
        ("1.234,50", "Decimal", "'1.234,50' is not a number (BALANCE is Decimal; write it like"),
        ("12,5", "Decimal", "'12,5' is not a number"),
        ("1,2345.5", "Decimal", "is not a number"),
        ("1e3", "Float", "is not a number"),
        ("12%", "Decimal", "is not a number"),
        ("€12", "Decimal", "is not a number"),
        (".", "Decimal", "is not a number"),
        ("NaN", "Float", "is not a number"),
        ("  ", "Decimal", "the value is empty"),
        ("100.5", "Decimal(4,2)", "'100.5' is too large for BALANCE (Decimal(4,2): at most 2"),
        ("99.995", "Decimal(4,2)", "too large"),
    ],
)
def test_numbers_that_need_a_locale_or_do_not_fit_are_rejected(
    raw: str, field_type: str, why: str
) -> None:
    with pytest.raises(ValueRejected) as error:
        to_optimove_value(raw, field_type, field="BALANCE")
    assert why in str(error.value)


# --- dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-01", "2024-03-01"),
        ("2024-3-1", "2024-03-01"),
        ("2024/03/01", "2024-03-01"),
        ("2024.03.01", "2024-03-01"),
        ("20240301", "2024-03-01"),
        ("2024-03-01T10:15:00", "2024-03-01"),
        ("2024-03-01T10:15:00Z", "2024-03-01"),
        ("2024-03-01T10:15:00.123456+02:00", "2024-03-01"),
        ("2024-03-01T23:30:00-05:00", "2024-03-01"),  # the date as written, not UTC's
        ("2024-03-01 10:15", "2024-03-01"),
        ("2024-03-01 00:00:00.000", "2024-03-01"),
        ("/Date(1584415749307)/", "2020-03-17"),
        ("/Date(1584415749307+0800)/", "2020-03-17"),
        ("/Date(1584398000000-0800)/", "2020-03-16"),  # 22:33 UTC, 14:33 at -08:00
        ("/Date(-86400000)/", "1969-12-31"),
        ("1700000000", "2023-11-14"),  # epoch seconds
        ("1700000000000", "2023-11-14"),  # epoch milliseconds
        ("946684800", "2000-01-01"),
        ("999999999999", "2001-09-09"),
        ("25/12/2024", "2024-12-25"),  # day first: 25 can't be a month
        ("12/25/2024", "2024-12-25"),  # month first: 25 can't be a month
        ("25-12-2024", "2024-12-25"),
        ("05/05/2024", "2024-05-05"),  # either way the same day
        ("01.02.2024", "2024-02-01"),  # dotted dates are day first
        ("1.2.2024", "2024-02-01"),
        ("25/12/2024 18:30", "2024-12-25"),
        ("12/25/2024 3:45 PM", "2024-12-25"),
        ("1 March 2024", "2024-03-01"),
        ("1st March 2024", "2024-03-01"),
        ("01-Mar-2024", "2024-03-01"),
        ("March 1, 2024", "2024-03-01"),
        ("Mar 1 2024", "2024-03-01"),
        ("sept. 30, 2024", "2024-09-30"),
        ("29 February 2024", "2024-02-29"),
    ],
)
def test_dates_are_written_as_year_month_day(raw: str, expected: str) -> None:
    assert to_optimove_value(raw, "Date", field="DATE_OF_BIRTH") == expected


def test_date_time_attributes_get_the_date_too() -> None:
    assert to_optimove_value("2024-03-01T10:15:00Z", "Datetime", field="SEEN") == "2024-03-01"
    assert to_optimove_value("/Date(1584415749307)/", "datetime2", field="SEEN") == "2020-03-17"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("01/02/2024", "'01/02/2024' is ambiguous: 1 February or 2 January 2024"),
        ("3-4-2024", "is ambiguous: 3 April or 4 March 2024"),
        ("2024-02-30", "'2024-02-30' is not a date: there is no such day"),
        ("29 February 2023", "there is no such day"),
        ("31/31/2024", "there is no such day"),
        ("20241301", "there is no such day"),
        ("01/02/24", "is not a date: write the year with four digits"),
        ("2024-03-01 25:00", "is not a date: the time is not valid"),
        ("2024-03-01 00:00 PM", "the time is not valid"),
        ("12345", "'12345' is not a date (DATE_OF_BIRTH is Date; write it as YYYY-MM-DD)"),
        ("12345678901", "is not a date"),  # 11 digits: neither seconds nor milliseconds
        ("yesterday", "is not a date"),
        ("-1700000000", "is not a date"),
        ("", "the value is empty"),
        ("/Date(999999999999999999)/", "is not a date: the timestamp is out of range"),
    ],
)
def test_what_is_not_clearly_one_date_is_rejected_with_the_reason(raw: str, why: str) -> None:
    with pytest.raises(ValueRejected) as error:
        to_optimove_value(raw, "Date", field="DATE_OF_BIRTH")
    assert why in str(error.value)
    assert "write it as YYYY-MM-DD" in str(error.value) or raw == ""


# --- booleans ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", "1"),
        ("true", "1"),
        ("True", "1"),
        ("YES", "1"),
        ("y", "1"),
        ("on", "1"),
        ("0", "0"),
        ("false", "0"),
        ("No", "0"),
        ("n", "0"),
        ("OFF", "0"),
        (" yes ", "1"),
    ],
)
def test_booleans_are_written_as_one_or_zero(raw: str, expected: str) -> None:
    assert to_optimove_value(raw, "Bit", field="OPT_IN_EMAIL") == expected


def test_a_word_that_is_not_yes_or_no_is_rejected_for_a_boolean() -> None:
    with pytest.raises(ValueRejected, match=r"'maybe' is not yes or no \(OPT_IN_EMAIL is Bit"):
        to_optimove_value("maybe", "Bit", field="OPT_IN_EMAIL")


# --- text ----------------------------------------------------------------------------------


@pytest.mark.parametrize("field_type", [None, "Nvarchar", "Nvarchar(max)", "Nvarchar(11)", "Xml"])
def test_text_is_written_unchanged(field_type: str | None) -> None:
    assert to_optimove_value("Zoë O'Brien", field_type, field="NAME") == "Zoë O'Brien"


def test_text_longer_than_its_column_is_rejected() -> None:
    with pytest.raises(ValueRejected, match=r"11 characters long, longer than NAME allows"):
        to_optimove_value("Zoë O'Brien", "Nvarchar(10)", field="NAME")


def test_text_length_counts_utf16_units_as_sql_server_does() -> None:
    assert text_length("abc") == 3
    assert text_length("😀") == 2
    assert to_optimove_value("😀", "Nvarchar(2)", field="NAME") == "😀"
    with pytest.raises(ValueRejected):
        to_optimove_value("a😀", "Nvarchar(2)", field="NAME")


# --- comparison ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "field_type"),
    [
        ("5", "5", "Bigint"),
        ("5.0", "5", "Bigint"),
        ("5.0000", "5", "Decimal(18,4)"),
        ("1234.5", "1234.50", "Decimal"),
        ("1E+3", "1000", "Float"),
        ("2024-03-01", "2024-03-01", "Date"),
        ("2024-03-01 00:00:00", "2024-03-01", "Datetime"),
        ("2024-03-01T00:00:00", "2024-03-01", "Date"),
        ("True", "1", "Bit"),
        ("false", "0", "Bit"),
        ("gold", "gold", "Nvarchar"),
        ("gold", "gold", None),
        (None, "", None),
        ("", "", "Bigint"),
        ("   ", "", None),
        ("n/a", "n/a", "Bigint"),  # not a number in Optimove: compared as text
    ],
)
def test_values_that_are_the_same_for_the_column(
    old: str | None, new: str, field_type: str | None
) -> None:
    assert same_value(old, new, field_type)


@pytest.mark.parametrize(
    ("old", "new", "field_type"),
    [
        ("5", "6", "Bigint"),
        ("5.01", "5", "Decimal"),
        ("2024-03-01", "2024-03-02", "Date"),
        ("1", "0", "Bit"),
        ("Gold", "gold", "Nvarchar"),  # text compares exactly
        ("gold ", "gold", None),
        (None, "gold", None),
        ("", "5", "Bigint"),
        ("gold", "", None),
        ("n/a", "5", "Bigint"),
    ],
)
def test_values_that_differ_for_the_column(
    old: str | None, new: str, field_type: str | None
) -> None:
    assert not same_value(old, new, field_type)


@pytest.mark.parametrize(("value", "empty"), [(None, True), ("", True), ("  ", True), ("0", False)])
def test_null_blank_and_empty_values_are_empty(value: str | None, empty: bool) -> None:
    assert is_empty(value) is empty


def test_a_long_rejected_value_is_shortened_in_the_reason() -> None:
    with pytest.raises(ValueRejected) as error:
        to_optimove_value("x" * 500, "Bigint", field="AGE")
    assert str(error.value) == f"'{'x' * 39}…' is not a whole number (AGE is Bigint)"


def test_long_text_is_no_date_and_is_rejected_quickly() -> None:
    with pytest.raises(ValueRejected, match="is not a date"):
        to_optimove_value("2024-03-01" + " " * 100_000 + "x", "Date", field="DAY")


def test_numbers_with_absurdly_many_digits_are_rejected() -> None:
    with pytest.raises(ValueRejected, match=r"'9{39}…' is out of range for AGE \(Bigint"):
        to_optimove_value("9" * 5000, "Bigint", field="AGE")
    with pytest.raises(ValueRejected, match="has more than 100 digits"):
        to_optimove_value("1." + "5" * 5000, "Decimal(18,2)", field="BALANCE")
