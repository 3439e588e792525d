"""A saved connection's recent failure is said again at once, for a while only."""

from __future__ import annotations

from optibridge.services.recent_failures import RecentFailures


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_failure_is_remembered_for_its_lifetime_only() -> None:
    clock = Clock()
    failures = RecentFailures(ttl_s=30.0, monotonic=clock)
    failures.remember(("site", 1), "Optimove did not answer in time.")
    clock.now += 29.9
    assert failures.get(("site", 1)) == "Optimove did not answer in time."
    clock.now += 0.1
    assert failures.get(("site", 1)) is None


def test_a_success_forgets_the_failure_and_other_keys_are_apart() -> None:
    failures = RecentFailures(ttl_s=30.0)
    failures.remember(("site", 1), "refused")
    failures.remember(("site", 2), "silent")
    failures.forget(("site", 1))
    assert failures.get(("site", 1)) is None
    assert failures.get(("site", 2)) == "silent"
