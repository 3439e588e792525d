"""The sliding window both sandboxes limit their vendor API with."""

from __future__ import annotations

from optibridge.sandbox.rate_limit import RateLimit, SlidingWindow

THREE_PER_TEN_SECONDS = RateLimit(requests=3, window_seconds=10.0)


def test_the_window_admits_up_to_the_limit_then_refuses() -> None:
    window = SlidingWindow()
    admitted = [window.admit("k", 100.0 + i, THREE_PER_TEN_SECONDS) for i in range(4)]
    assert admitted == [True, True, True, False]


def test_a_refused_call_leaves_no_trace_so_the_window_still_slides() -> None:
    window = SlidingWindow()
    for at in (100.0, 101.0, 102.0):
        assert window.admit("k", at, THREE_PER_TEN_SECONDS)
    assert not window.admit("k", 109.0, THREE_PER_TEN_SECONDS)
    # The call at 100 leaves the window at 110; the refused one at 109 never entered it.
    assert window.admit("k", 110.0, THREE_PER_TEN_SECONDS)
    assert not window.admit("k", 110.5, THREE_PER_TEN_SECONDS)


def test_each_key_has_its_own_window() -> None:
    window = SlidingWindow()
    for _ in range(3):
        assert window.admit("a", 100.0, THREE_PER_TEN_SECONDS)
    assert not window.admit("a", 100.0, THREE_PER_TEN_SECONDS)
    assert window.admit("b", 100.0, THREE_PER_TEN_SECONDS)
