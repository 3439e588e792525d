"""Text made storable and sendable: lone surrogates and NUL become U+FFFD, nothing else changes;
JSON nested too deep is refused, not a RecursionError."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optibridge import safe_text
from tests.support.strategies import json_values, nasty_text


def storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


@given(nasty_text(max_size=40))
def test_any_text_becomes_storable_without_changing_its_length(text: str) -> None:
    cleaned = safe_text.storable_text(text)
    assert storable(cleaned)
    assert len(cleaned) == len(text)
    assert safe_text.unstorable_characters(text) == sum(
        1 for a, b in zip(text, cleaned, strict=True) if a != b
    )


@given(nasty_text(max_size=40))
def test_only_unstorable_characters_are_replaced(text: str) -> None:
    cleaned = safe_text.storable_text(text)
    for before, after in zip(text, cleaned, strict=True):
        assert after == before or (after == safe_text.REPLACEMENT and not storable(before))


@given(st.text())  # hypothesis' default text has no surrogates; NUL aside, it is left alone
def test_storable_text_is_left_as_it_is(text: str) -> None:
    text = text.replace("\x00", "")
    assert safe_text.storable_text(text) == text


@given(json_values())
def test_any_json_value_can_be_sent_once_cleaned(value: Any) -> None:
    cleaned = safe_text.clean(value)
    json.dumps(cleaned.value, ensure_ascii=False).encode("utf-8")  # never raises
    assert safe_text.clean(cleaned.value) == safe_text.Cleaned(cleaned.value, 0)


@given(json_values())
def test_loads_reads_what_json_wrote_and_makes_it_storable(value: Any) -> None:
    cleaned = safe_text.loads(json.dumps(value))  # escapes: "\ud800" is legal JSON
    assert cleaned == safe_text.clean(value)


def test_the_replaced_characters_are_counted() -> None:
    cleaned = safe_text.loads(b'{"email": "x\\ud800@e.com", "n\\u0000": ["\\udfff", 1]}')
    assert cleaned.value == {"email": "x\ufffd@e.com", "n\ufffd": ["\ufffd", 1]}
    assert cleaned.replaced == 3


def test_a_surrogate_pair_is_one_character_and_stays() -> None:
    assert safe_text.loads(b'"\\ud83d\\ude00"') == safe_text.Cleaned("\U0001f600", 0)


@pytest.mark.parametrize("depth", [safe_text.MAX_DEPTH + 1, 1000, 100_000])
def test_json_nested_too_deep_is_refused(depth: int) -> None:
    with pytest.raises(safe_text.JsonTooDeep, match="more than 64 levels deep"):
        safe_text.loads("[" * depth + "]" * depth)


def test_json_nested_as_deep_as_allowed_is_read() -> None:
    depth = safe_text.MAX_DEPTH
    assert safe_text.loads('{"a":' * depth + "1" + "}" * depth).replaced == 0


@pytest.mark.parametrize("document", [b"", b"{", b"\xff\xfe", b"nul\x00", b'{"a": 1} x'])
def test_what_is_not_json_is_a_value_error(document: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (the callers' contract: ValueError, any kind)
        safe_text.loads(document)
