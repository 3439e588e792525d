"""The pure sliding-log decision: never more than `limit` sends in any window, waits minimal."""

from __future__ import annotations

import heapq

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optibridge.domain.budget import answered_at, backoff, decide, fill_window
from optibridge.optimove.client import bucket_for_api_key
from tests.support.windows import max_in_any_window

WINDOW = 10_500_000  # 10 s + 0.5 s margin, in microseconds

limits = st.integers(min_value=1, max_value=8)
windows = st.integers(min_value=1, max_value=2_000)
times = st.integers(min_value=0, max_value=10_000)
logs = st.lists(times, max_size=20)


def in_window(stamps: tuple[int, ...] | list[int], now: int, window: int) -> int:
    return sum(1 for s in stamps if now - window < s <= now)


@given(
    limit=limits,
    window=windows,
    arrivals=st.lists(st.integers(min_value=-500, max_value=3_000), max_size=80),
)
def test_admitted_sends_never_exceed_the_limit_in_any_window(
    limit: int, window: int, arrivals: list[int]
) -> None:
    """Callers arrive at arbitrary times (the clock may even step back); each asks once."""
    log: tuple[int, ...] = ()
    admitted: list[int] = []
    now = 0
    for step in arrivals:
        now += step
        decision = decide(log, now, limit, window)
        if decision.admitted:
            log = decision.stamps
            admitted.append(log[-1])
    assert max_in_any_window(admitted, window) <= limit


@given(limit=limits, window=windows, gaps=st.lists(st.integers(0, 3_000), max_size=60))
def test_callers_that_wait_as_told_keep_the_limit_too(
    limit: int, window: int, gaps: list[int]
) -> None:
    log: tuple[int, ...] = ()
    admitted: list[int] = []
    now = 0
    for gap in gaps:
        now += gap
        decision = decide(log, now, limit, window)
        while not decision.admitted:
            now += decision.wait_us
            decision = decide(log, now, limit, window)
        log = decision.stamps
        admitted.append(now)
    assert max_in_any_window(admitted, window) <= limit
    # A caller that waited was admitted at the first moment the limit allowed.
    assert len(admitted) == len(gaps)


@given(limit=limits, window=windows, stamps=logs, now=times)
def test_a_call_is_refused_only_when_the_window_is_full(
    limit: int, window: int, stamps: list[int], now: int
) -> None:
    now = max([now, *stamps])
    decision = decide(stamps, now, limit, window)
    assert decision.admitted == (in_window(stamps, now, window) < limit)


@given(limit=limits, window=windows, stamps=logs, now=times)
def test_the_wait_is_exactly_until_the_window_has_room(
    limit: int, window: int, stamps: list[int], now: int
) -> None:
    now = max([now, *stamps])
    decision = decide(stamps, now, limit, window)
    if decision.admitted:
        assert decision.wait_us == 0
        return
    assert 0 < decision.wait_us <= window
    assert decide(stamps, now + decision.wait_us, limit, window).admitted
    assert not decide(stamps, now + decision.wait_us - 1, limit, window).admitted


@given(limit=limits, window=windows, stamps=logs, now=times)
def test_an_admission_keeps_only_the_window_plus_itself(
    limit: int, window: int, stamps: list[int], now: int
) -> None:
    now = max([now, *stamps])
    decision = decide(stamps, now, limit, window)
    if decision.admitted:
        assert decision.stamps[-1] == now
        assert len(decision.stamps) <= limit
        assert all(now - window < s <= now for s in decision.stamps)


@given(limit=limits, window=windows, stamps=logs, now=times)
def test_after_a_429_everyone_waits_a_whole_window(
    limit: int, window: int, stamps: list[int], now: int
) -> None:
    now = max([now, *stamps])
    filled = fill_window(stamps, now, limit)
    refused = decide(filled, now, limit, window)
    assert not refused.admitted
    assert refused.wait_us == window
    assert decide(filled, now + window, limit, window).admitted


def test_a_burst_of_50_then_the_51st_waits_for_the_first_to_leave() -> None:
    log: tuple[int, ...] = ()
    for i in range(50):
        decision = decide(log, i * 1_000, 50, WINDOW)
        assert decision.admitted
        log = decision.stamps
    late = decide(log, 200_000, 50, WINDOW)  # 0.2 s later: GCRA would admit; we must not
    assert not late.admitted
    assert late.wait_us == WINDOW - 200_000


def test_a_clock_that_steps_back_is_treated_as_standing_still() -> None:
    decision = decide([5_000_000], 1_000_000, 2, WINDOW)
    assert decision.admitted
    assert decision.stamps == (5_000_000, 5_000_000)


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        decide([], 0, 0, WINDOW)


def test_the_bucket_names_the_key_without_revealing_it() -> None:
    bucket = bucket_for_api_key("secret-key-123")
    assert bucket.startswith("optimove:")
    assert "secret" not in bucket
    assert len(bucket) <= 80  # the column's width
    assert bucket == bucket_for_api_key(" secret-key-123\n")
    assert bucket != bucket_for_api_key("secret-key-124")


@given(
    limit=limits,
    window=windows,
    callers=st.integers(min_value=1, max_value=6),
    transits=st.lists(st.integers(min_value=0, max_value=3_000), min_size=1, max_size=60),
)
def test_however_late_calls_arrive_the_vendor_never_counts_more_than_the_limit(
    limit: int, window: int, callers: int, transits: list[int]
) -> None:
    """`callers` send one call after another; call k reaches the vendor `transits[k]` after
    its stamp (a busy machine, a slow network: far longer than any margin) and is answered
    when it arrives. The vendor's window is the limiter's, without margin: with stamps moved
    to the answers, no window of arrivals holds more than `limit`, as long as a call is
    answered before a whole window has passed (beyond that, the margin is the only guard)."""
    transits = [t % window for t in transits]  # answered within the window
    log: tuple[int, ...] = ()
    arrivals: list[int] = []
    ready = [(0, caller) for caller in range(callers)]  # (time the caller asks, caller)
    in_flight: list[tuple[int, int]] = []  # (answer time, stamp)
    calls = iter(transits)
    while ready or in_flight:
        if in_flight and (not ready or in_flight[0][0] <= ready[0][0]):
            answered, stamp = heapq.heappop(in_flight)
            log = answered_at(log, stamp, answered)
            continue
        now, caller = heapq.heappop(ready)
        decision = decide(log, now, limit, window)
        if not decision.admitted:
            heapq.heappush(ready, (now + decision.wait_us, caller))
            continue
        transit = next(calls, None)
        if transit is None:
            continue  # this caller is done
        log = decision.stamps
        stamp = log[-1]
        arrivals.append(stamp + transit)
        heapq.heappush(in_flight, (stamp + transit, stamp))
        heapq.heappush(ready, (stamp + transit, caller))
    assert max_in_any_window(sorted(arrivals), window) <= limit


@given(stamps=logs, sent=times, now=times)
def test_an_answer_moves_the_calls_stamp_and_never_frees_a_place(
    stamps: list[int], sent: int, now: int
) -> None:
    after = answered_at(stamps, sent, now)
    assert len(after) == len(stamps) + (0 if sent in stamps else 1)
    assert max(after) >= max([now, *stamps])
    assert list(after) == sorted(after)


@given(
    st.integers(1, 60),
    st.floats(0.01, 10),
    st.floats(0.01, 600),
    st.floats(0, 1, exclude_max=True),
)
def test_a_backoff_never_exceeds_its_cap_and_grows_with_failures(
    failures: int, base_s: float, max_s: float, draw: float
) -> None:
    waited = backoff(failures, base_s, max_s, draw)
    assert 0 <= waited <= max_s
    assert waited <= backoff(failures + 1, base_s, max_s, draw)
