"""What both sandboxes' control surfaces share: partial updates and how refusals read."""

from __future__ import annotations

import pytest

from optibridge.sandbox.control import ControlError, invalid_input, merged
from optibridge.sandbox.rate_limit import LimitsPatch, RateLimit

LIMIT = RateLimit(requests=50, window_seconds=10.0)


def test_a_patch_changes_only_the_keys_it_was_given() -> None:
    patched = merged(LIMIT, LimitsPatch(requests=5))
    assert patched == RateLimit(requests=5, window_seconds=10.0)


def test_a_patch_is_checked_once_merged_and_refused_naming_the_field() -> None:
    with pytest.raises(ControlError) as refused:
        merged(LIMIT, LimitsPatch(window_seconds=0))
    error = refused.value
    assert (error.status, error.code) == (422, "invalid")
    assert [d["pointer"] for d in error.details] == ["/window_seconds"]
    assert error.message.startswith("Invalid input: /window_seconds: ")


def test_unparseable_json_is_a_400_not_a_422() -> None:
    errors = [{"type": "json_invalid", "loc": ("body", 1), "msg": "x", "ctx": {"error": "bad"}}]
    error = invalid_input(errors)
    assert (error.status, error.code, error.details) == (
        400,
        "malformed",
        [{"pointer": "", "message": "bad"}],
    )


def test_pointers_escape_slashes_and_tildes() -> None:
    errors = [{"type": "missing", "loc": ("body", "a/b", "c~d", 0), "msg": "Field required"}]
    assert invalid_input(errors, skip=1).details == [
        {"pointer": "/a~1b/c~0d/0", "message": "Field required"}
    ]
