"""What both sandboxes' vendor APIs do alike: route by path segments, parse JSON, check keys."""

from __future__ import annotations

from optibridge.sandbox.vendor_api import (
    NOT_JSON,
    Endpoint,
    allowed_methods,
    endpoint_for,
    key_is_accepted,
    parse_json,
    path_segments,
)

READ = Endpoint(("customers", None, "attributes"), "GET", "read")
WRITE = Endpoint(("customers", None, "attributes"), "PUT", "write")
ENDPOINTS = (READ, WRITE)


def test_fixed_segments_match_in_any_case_and_captured_ones_keep_theirs() -> None:
    segments = path_segments("Customers/AbC/ATTRIBUTES/")
    assert endpoint_for(ENDPOINTS, segments, "GET") is READ
    assert READ.captured(segments) == ["AbC"]


def test_a_captured_segment_must_not_be_empty() -> None:
    assert endpoint_for(ENDPOINTS, path_segments("customers//attributes"), "GET") is None


def test_only_one_trailing_slash_is_tolerated() -> None:
    assert endpoint_for(ENDPOINTS, path_segments("customers/c/attributes//"), "GET") is None


def test_a_known_path_with_another_method_names_the_methods_it_takes() -> None:
    segments = path_segments("customers/c/attributes")
    assert endpoint_for(ENDPOINTS, segments, "DELETE") is None
    assert allowed_methods(ENDPOINTS, segments) == ["GET", "PUT"]
    assert allowed_methods(ENDPOINTS, path_segments("nowhere")) == []


def test_json_is_parsed_strictly() -> None:
    assert parse_json(b'{"a": [1, null]}') == {"a": [1, None]}
    for raw in (b"NaN", b"[Infinity]", b"{", b"\xff", b"[" * 100_000):
        assert parse_json(raw) is NOT_JSON


def test_a_key_is_accepted_only_when_it_is_one_of_the_keys() -> None:
    assert key_is_accepted("k2", ["k1", "k2"])
    assert not key_is_accepted("k", ["k1", "k2"])
    assert not key_is_accepted("k1", [])
