"""Bodies from a vendor, whatever they are: classified, never a crash."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from optibridge.vendor_http.bodies import decode_body


@given(st.binary(max_size=2000), st.none() | st.sampled_from(["application/json", "text/html"]))
def test_any_bytes_are_classified(content: bytes, content_type: str | None) -> None:
    assert decode_body(content, content_type).kind in {"empty", "html", "json", "text"}


def test_json_nested_deeper_than_the_parser_goes_is_text_not_a_crash() -> None:
    body = decode_body(b"[" * 100_000 + b"]" * 100_000, "application/json")
    assert body.kind == "text"


def test_a_bare_json_string_and_an_object_are_json() -> None:
    assert decode_body(b'"Invalid key"', None).value == "Invalid key"
    assert decode_body(b' {"message": "no"} ', "text/plain").value == {"message": "no"}
