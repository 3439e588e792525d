"""Comm100 values as Optimove attribute values, and when two values are the same.

Optimove takes every attribute value as a string and stores it in a typed column (the
attribute's `FieldType`: `Bigint`, `Int`, `Decimal(18,2)`, `Date`, `Nvarchar(50)`, `Bit`, …).
What people type in a chat form is converted to the one spelling Optimove expects, or rejected
with the reason; nothing depends on a locale.

Field types (names matched case-insensitively; an unknown or missing type is text):
- whole numbers — `Bigint`, `Int`/`Integer`, `Smallint`, `Tinyint`: the number in plain digits,
  within the type's range. `5.0` is 5; `5.5` is rejected.
- other numbers — `Decimal`/`Numeric(p,s)`, `Float`, `Real`, `Double`, `Money`, `Smallmoney`,
  `Number`: plain digits with `.` for decimals, as written (`1234.50` stays `1234.50`);
  with a scale, rounded half away from zero to it (as the database does on store); with a
  precision, rejected when the whole part has too many digits.
- Number input: spaces anywhere are dropped (`1 234`), a leading `+` too; a comma is a thousands
  separator only in groups of three before the decimal point (`1,234,567.5`). Anything else with
  a comma (`1,5`, `1.234,50`) is rejected: a decimal comma can't be told apart from a thousands
  separator without a locale. No exponents, currency signs or percent signs.
- dates — `Date`, and `Datetime`, `Datetime2`, `Smalldatetime`, `Datetimeoffset`, `Timestamp`:
  `YYYY-MM-DD` (Optimove's date format; a date-time attribute gets the date at midnight).
  Accepted: `YYYY-MM-DD` (also `/` or `.`), ISO date-times (the date as written, whatever the
  offset), `/Date(ms)/` and `/Date(ms+hhmm)/` (Comm100's webhook dates; the date at the given
  offset, else UTC), epoch seconds (9 to 10 digits) and milliseconds (12 to 13 digits) in UTC,
  `YYYYMMDD`, `DD.MM.YYYY`, English month names (`1 March 2024`, `Mar 1, 2024`), and
  `DD/MM/YYYY` or `MM/DD/YYYY` (also with `-`) only when it can be read one way only: `25/12/2024`
  and `12/25/2024` are Christmas, `01/02/2024` is rejected as ambiguous. A time may follow any of
  them. Two-digit years are rejected.
- booleans — `Bit`, `Bool`, `Boolean`: `1`/`0`. Accepted (any case): 1, true, yes, y, on / 0,
  false, no, n, off.
- text — `Nvarchar(N)`, `Varchar(N)`, `Nchar(N)`, `Char(N)`, `Nvarchar(max)`, anything else:
  unchanged; longer than N (counted in UTF-16 units, as SQL Server counts) is rejected.

`same_value` compares what Optimove holds with a new value the way the column would: numbers
as numbers (`5` = `5.0`), dates as dates (`2024-03-01 00:00:00` = `2024-03-01`), booleans as
booleans (`True` = `1`), text exactly. Null, `""` and blank are all empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal

FieldKind = Literal["integer", "decimal", "date", "boolean", "text"]

INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "bigint": (-(2**63), 2**63 - 1),
    "int": (-(2**31), 2**31 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "smallint": (-(2**15), 2**15 - 1),
    "tinyint": (0, 255),
}
_DECIMAL_TYPES = frozenset(
    {
        "decimal",
        "numeric",
        "float",
        "real",
        "double",
        "double precision",
        "money",
        "smallmoney",
        "number",
    }
)
_DATE_TYPES = frozenset(
    {"date", "datetime", "datetime2", "smalldatetime", "datetimeoffset", "timestamp"}
)
_BOOLEAN_TYPES = frozenset({"bit", "bool", "boolean"})
_SIZED_TEXT_TYPES = frozenset({"char", "nchar", "varchar", "nvarchar"})

_TRUE = frozenset({"1", "true", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "no", "n", "off"})

_TYPE = re.compile(
    r"\s*(?P<base>[A-Za-z][A-Za-z0-9_]*(?:\s+[A-Za-z][A-Za-z0-9_]*)*)\s*"
    r"(?:\(\s*(?P<args>[^()]*)\))?\s*"
)


class ValueRejected(ValueError):
    """A value that can't be stored in its Optimove attribute; the message says why."""


@dataclass(frozen=True)
class FieldType:
    """An Optimove `FieldType` as parsed: its kind and, when given, size/precision/scale."""

    name: str  # as Optimove spells it (or "text" when there is none)
    kind: FieldKind
    base: str  # the type's name without arguments, lower-cased: "decimal", "nvarchar"
    size: int | None = None  # text: the maximum length
    precision: int | None = None  # decimal: total digits
    scale: int | None = None  # decimal: digits after the point

    @property
    def integer_range(self) -> tuple[int, int] | None:
        return INTEGER_RANGES.get(self.base) if self.kind == "integer" else None


def parse_field_type(field_type: str | None) -> FieldType:
    """`"Decimal(18, 2)"` → kind decimal, precision 18, scale 2; unknown types are text."""
    if field_type is None or not field_type.strip():
        return FieldType("text", "text", "text")
    name = field_type.strip()
    match = _TYPE.fullmatch(name)
    if match is None:
        return FieldType(name, "text", name.lower())
    base = " ".join(match["base"].lower().split())
    args = [a.strip() for a in (match["args"] or "").split(",")] if match["args"] else []
    numbers = [int(a) for a in args if a.isascii() and a.isdigit()]
    if base in INTEGER_RANGES:
        return FieldType(name, "integer", base)
    if base in _DECIMAL_TYPES:
        if base in ("decimal", "numeric") and numbers:
            precision = numbers[0] or None
            scale = numbers[1] if len(numbers) > 1 else 0
            if precision is not None and scale > precision:
                scale = precision
            return FieldType(name, "decimal", base, precision=precision, scale=scale)
        return FieldType(name, "decimal", base)
    if base in _DATE_TYPES:
        return FieldType(name, "date", base)
    if base in _BOOLEAN_TYPES:
        return FieldType(name, "boolean", base)
    size = numbers[0] if base in _SIZED_TEXT_TYPES and len(args) == 1 and numbers else None
    return FieldType(name, "text", base, size=size or None)


def is_empty(value: str | None) -> bool:
    """Null, `""` and blank values carry nothing."""
    return value is None or not value.strip()


def to_optimove_value(raw: str, field_type: str | None, *, field: str) -> str:
    """`raw` as Optimove stores it in `field` (of `field_type`), or `ValueRejected` saying why."""
    parsed = parse_field_type(field_type)
    if parsed.kind == "text":
        return _text(raw, parsed, field)
    value = raw.strip()
    if not value:
        raise ValueRejected(f"the value is empty ({field} is {parsed.name})")
    if parsed.kind == "integer":
        return _integer(value, parsed, field)
    if parsed.kind == "decimal":
        return _decimal(value, parsed, field)
    if parsed.kind == "date":
        return _date(value, parsed, field)
    return _boolean(value, parsed, field)


def same_value(optimove_value: str | None, new_value: str, field_type: str | None) -> bool:
    """Whether writing `new_value` over `optimove_value` would change nothing."""
    if is_empty(optimove_value) or is_empty(new_value):
        return is_empty(optimove_value) and is_empty(new_value)
    assert optimove_value is not None
    parsed = parse_field_type(field_type)
    if parsed.kind == "text":
        return optimove_value == new_value
    old, new = _comparable(optimove_value, parsed), _comparable(new_value, parsed)
    if old is None or new is None:  # something Optimove holds that isn't of its type
        return optimove_value.strip() == new_value.strip()
    return old == new


# --- text ----------------------------------------------------------------------------------

_SHOWN_LENGTH = 40  # of a rejected value, in its reason
_DATE_LENGTH = 64  # longer text is no date (and is not scanned as one)


def _shown(value: str) -> str:
    """`'abc'`: a value as a reason quotes it, shortened when long."""
    if len(value) > _SHOWN_LENGTH:
        value = value[: _SHOWN_LENGTH - 1] + "…"
    return f"'{value}'"


def text_length(value: str) -> int:
    """Length as SQL Server counts an nvarchar: UTF-16 code units."""
    return len(value.encode("utf-16-le", "surrogatepass")) // 2


def _text(raw: str, parsed: FieldType, field: str) -> str:
    if parsed.size is not None and text_length(raw) > parsed.size:
        raise ValueRejected(
            f"the value is {text_length(raw)} characters long, longer than"
            f" {field} allows ({parsed.name})"
        )
    return raw


# --- numbers -------------------------------------------------------------------------------

_MAX_DIGITS = 100  # more is no real number, and Python refuses int() of 4,300 digits
_NUMBER = re.compile(
    r"(?P<sign>[+-]?)(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]*)(?:\.(?P<fraction>[0-9]*))?"
)


@dataclass(frozen=True)
class _Number:
    negative: bool
    whole: str  # digits, no leading zeros ("0" for none)
    fraction: str  # digits as written, possibly ""

    @property
    def value(self) -> Decimal:
        return Decimal(f"{'-' if self.negative else ''}{self.whole}.{self.fraction or '0'}")

    def text(self) -> str:
        zero = self.whole == "0" and not self.fraction.strip("0")
        sign = "-" if self.negative and not zero else ""
        return f"{sign}{self.whole}" + (f".{self.fraction}" if self.fraction else "")


def _parse_number(value: str) -> _Number | None:
    compact = "".join(value.split())
    match = _NUMBER.fullmatch(compact)
    if match is None:
        return None
    whole = match["whole"].replace(",", "")
    fraction = match["fraction"] or ""
    if not whole and not fraction:
        return None
    return _Number(match["sign"] == "-", whole.lstrip("0") or "0", fraction)


def _rounded(number: _Number, scale: int) -> _Number:
    """`number` rounded half away from zero to `scale` decimals (as SQL Server stores it)."""
    kept = number.fraction[:scale]
    digits = int(number.whole + kept) + (1 if number.fraction[scale] >= "5" else 0)
    text = str(digits).rjust(scale + 1, "0")
    whole, fraction = (text[:-scale], text[-scale:]) if scale else (text, "")
    return _Number(number.negative, whole.lstrip("0") or "0", fraction)


def _integer(value: str, parsed: FieldType, field: str) -> str:
    number = _parse_number(value)
    if number is None or number.fraction.strip("0"):
        raise ValueRejected(f"{_shown(value)} is not a whole number ({field} is {parsed.name})")
    low, high = INTEGER_RANGES[parsed.base]  # an integer type is one of INTEGER_RANGES
    result = int(number.whole) * (-1 if number.negative else 1) if len(number.whole) < 30 else None
    if result is None or not low <= result <= high:
        shown = _shown(value.strip()) if result is None else result
        raise ValueRejected(f"{shown} is out of range for {field} ({parsed.name}: {low} to {high})")
    return str(result)


def _decimal(value: str, parsed: FieldType, field: str) -> str:
    number = _parse_number(value)
    if number is None:
        raise ValueRejected(
            f"{_shown(value)} is not a number ({field} is {parsed.name}; write it like 1234.50)"
        )
    if len(number.whole) + len(number.fraction) > _MAX_DIGITS:
        raise ValueRejected(
            f"{_shown(value)} has more than {_MAX_DIGITS} digits ({field} is {parsed.name})"
        )
    if parsed.scale is not None and len(number.fraction) > parsed.scale:
        number = _rounded(number, parsed.scale)
    if parsed.precision is not None:
        room = parsed.precision - (parsed.scale or 0)
        whole_digits = 0 if number.whole == "0" else len(number.whole)
        if whole_digits > room:
            raise ValueRejected(
                f"{_shown(value)} is too large for {field} ({parsed.name}: at most {room}"
                " digits before the decimal point)"
            )
    return number.text()


# --- booleans ------------------------------------------------------------------------------


def _parse_boolean(value: str) -> bool | None:
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    return None


def _boolean(value: str, parsed: FieldType, field: str) -> str:
    result = _parse_boolean(value)
    if result is None:
        raise ValueRejected(
            f"{_shown(value)} is not yes or no ({field} is {parsed.name};"
            " use 1/0, true/false or yes/no)"
        )
    return "1" if result else "0"


# --- dates ---------------------------------------------------------------------------------


class _NotADate(Exception):
    """What the rejection says after the value: "is not a date: there is no such day"."""

    def __init__(self, why: str = "") -> None:
        super().__init__(f"is not a date: {why}" if why else "is not a date")


_EPOCH = date(1970, 1, 1).toordinal()
_MS_PER_DAY = 86_400_000
_MONTH_SPELLINGS = (
    ("january", "jan"),
    ("february", "feb"),
    ("march", "mar"),
    ("april", "apr"),
    ("may",),
    ("june", "jun"),
    ("july", "jul"),
    ("august", "aug"),
    ("september", "sep", "sept"),
    ("october", "oct"),
    ("november", "nov"),
    ("december", "dec"),
)
_MONTHS = {name: number for number, names in enumerate(_MONTH_SPELLINGS, start=1) for name in names}
_MONTH_NAMES = tuple(name.capitalize() for name, *_ in _MONTH_SPELLINGS)
_MONTH_WORDS = "|".join(sorted(_MONTHS, key=len, reverse=True))

_TIME = re.compile(
    r"(?P<date>.*?)(?:(?:T|\s+|,\s*)"
    r"(?P<h>[0-9]{1,2}):(?P<m>[0-9]{2})(?::(?P<s>[0-9]{2})(?:[.,][0-9]{1,9})?)?"
    r"\s*(?P<ampm>[AaPp][Mm])?"
    r"\s*(?P<zone>Z|UTC|GMT|[+-][0-9]{2}(?::?[0-9]{2})?)?)",
    re.IGNORECASE,
)
_YMD = re.compile(r"(?P<y>[0-9]{4})(?P<sep>[-/.])(?P<m>[0-9]{1,2})(?P=sep)(?P<d>[0-9]{1,2})")
_DMY = re.compile(r"(?P<a>[0-9]{1,2})(?P<sep>[-/.])(?P<b>[0-9]{1,2})(?P=sep)(?P<y>[0-9]+)")
_DOTNET = re.compile(r"/?Date\((?P<ms>-?[0-9]+)(?P<offset>[+-][0-9]{4})?\)/?", re.IGNORECASE)
_DAY_MONTH_YEAR = re.compile(
    rf"(?P<d>[0-9]{{1,2}})(?:st|nd|rd|th)?[\s./-]*(?P<month>{_MONTH_WORDS})\.?,?[\s./-]*"
    r"(?P<y>[0-9]{4})",
    re.IGNORECASE,
)
_MONTH_DAY_YEAR = re.compile(
    rf"(?P<month>{_MONTH_WORDS})\.?[\s./-]*(?P<d>[0-9]{{1,2}})(?:st|nd|rd|th)?,?[\s./-]+"
    r"(?P<y>[0-9]{4})",
    re.IGNORECASE,
)


class _Ambiguous(_NotADate):
    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)


def _make_date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise _NotADate("there is no such day") from None


def _from_epoch_ms(ms: int) -> date:
    try:
        return date.fromordinal(_EPOCH + ms // _MS_PER_DAY)
    except (ValueError, OverflowError):
        raise _NotADate("the timestamp is out of range") from None


def _strip_time(value: str) -> str:
    """The date part of `value`, without a valid time (and zone) after it."""
    match = _TIME.fullmatch(value)
    if match is None or not match["date"]:
        return value
    hour, minute = int(match["h"]), int(match["m"])
    second = int(match["s"]) if match["s"] is not None else 0
    limit = 13 if match["ampm"] else 24
    if hour >= limit or minute >= 60 or second >= 60 or (match["ampm"] and hour == 0):
        raise _NotADate("the time is not valid")
    return match["date"].strip()


def _parse_date(value: str) -> date:
    text = value.strip()
    if len(text) > _DATE_LENGTH:
        raise _NotADate()
    dotnet = _DOTNET.fullmatch(text)
    if dotnet is not None:
        offset = dotnet["offset"]
        shift = 0
        if offset:
            minutes = int(offset[1:3]) * 60 + int(offset[3:5])
            shift = (-1 if offset[0] == "-" else 1) * minutes * 60_000
        return _from_epoch_ms(int(dotnet["ms"]) + shift)
    if text.isascii() and text.isdigit():
        if len(text) == 8:
            return _make_date(int(text[:4]), int(text[4:6]), int(text[6:]))
        if len(text) in (9, 10):
            return _from_epoch_ms(int(text) * 1000)
        if len(text) in (12, 13):
            return _from_epoch_ms(int(text))
        raise _NotADate()
    text = _strip_time(text)
    ymd = _YMD.fullmatch(text)
    if ymd is not None:
        return _make_date(int(ymd["y"]), int(ymd["m"]), int(ymd["d"]))
    dmy = _DMY.fullmatch(text)
    if dmy is not None:
        return _day_month_year(dmy["a"], dmy["b"], dmy["y"], dmy["sep"])
    for pattern in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR):
        named = pattern.fullmatch(text)
        if named is not None:
            month = _MONTHS[named["month"].lower()]
            return _make_date(int(named["y"]), month, int(named["d"]))
    raise _NotADate()


def _day_month_year(first: str, second: str, year_text: str, separator: str) -> date:
    if len(year_text) != 4:
        raise _NotADate("write the year with four digits")
    a, b, year = int(first), int(second), int(year_text)
    if separator == "." or (a > 12 >= b):  # DD.MM.YYYY is day first wherever it is used
        return _make_date(year, b, a)
    if b > 12 >= a or a == b:
        return _make_date(year, a, b)
    if a > 12 and b > 12:
        raise _NotADate("there is no such day")
    _make_date(year, a, b)  # both readings must be real days to be ambiguous
    _make_date(year, b, a)
    raise _Ambiguous(f"is ambiguous: {a} {_MONTH_NAMES[b - 1]} or {b} {_MONTH_NAMES[a - 1]} {year}")


def _date(value: str, parsed: FieldType, field: str) -> str:
    try:
        return _parse_date(value).isoformat()
    except _NotADate as error:
        raise ValueRejected(
            f"{_shown(value)} {error} ({field} is {parsed.name}; write it as YYYY-MM-DD)"
        ) from None


# --- comparison ----------------------------------------------------------------------------


def _comparable(value: str, parsed: FieldType) -> object | None:
    """`value` as the column would compare it; None when it isn't of the column's type."""
    if parsed.kind in ("integer", "decimal"):
        number = _parse_number(value)
        if number is not None:
            return number.value
        try:  # Optimove may spell a stored number its own way (1E+3)
            decimal = Decimal(value.strip())
        except InvalidOperation:
            return None
        return decimal if decimal.is_finite() else None
    if parsed.kind == "date":
        try:
            return _parse_date(value)
        except _NotADate:
            return None
    return _parse_boolean(value)
