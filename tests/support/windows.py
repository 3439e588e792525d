"""Counting calls per sliding window, for the limiter's tests."""

from __future__ import annotations

import bisect
from collections.abc import Iterable


def max_in_any_window(stamps: Iterable[float], window: float) -> int:
    """Most stamps inside one half-open window [a, a + window) (the busiest starts at a stamp)."""
    ordered = sorted(stamps)
    return max(
        (bisect.bisect_left(ordered, s + window) - i for i, s in enumerate(ordered)), default=0
    )
