"""Priorities in Optimove's budget (`domain/budget.py: decide_in_lane`, SPEC 4.5 "Agents first"):
who gets the next slot, never more slots than the limit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from optibridge.domain.budget import (
    AGENT_PRESENCE_US,
    AGENT_SPARE,
    BACKGROUND_HEADROOM,
    MICROS,
    PRIORITIES,
    STAND_ASIDE_US,
    WAITER_GRACE_US,
    WAITER_POLL_US,
    Priority,
    Waiter,
    agent_spare,
    decide_in_lane,
    without_waiter,
)

LIMIT, WINDOW = 50, 10 * MICROS
NOW = 1_000 * MICROS


def decided(
    priority: Priority,
    stamps: tuple[int, ...] = (),
    waiters: tuple[Waiter, ...] = (),
    *,
    waiter_id: str = "me",
    now: int = NOW,
    limit: int = LIMIT,
) -> tuple[bool, int, tuple[Waiter, ...]]:
    lane = decide_in_lane(
        stamps, waiters, now, limit, WINDOW, priority=priority, waiter_id=waiter_id
    )
    return lane.decision.admitted, lane.decision.wait_us, lane.waiters


def full(count: int = LIMIT) -> tuple[int, ...]:
    return tuple(NOW - WINDOW + 1 + i for i in range(count))


def test_with_room_and_no_one_waiting_every_priority_is_admitted() -> None:
    for priority in PRIORITIES:
        admitted, _wait, waiters = decided(priority)
        assert admitted
        assert waiters == ()


def test_a_waiting_agent_makes_live_and_background_work_stand_aside() -> None:
    agent = Waiter("agent", "agent-1", NOW + MICROS)

    for priority in ("live", "background"):
        admitted, wait, waiters = decided(priority, (), (agent,))
        assert not admitted
        assert wait == STAND_ASIDE_US
        assert agent in waiters  # still waiting: it takes the slot when it asks
    assert decided("agent", (), (agent,), waiter_id="agent-2")[0]


def test_waiting_live_events_go_before_background_work_but_not_before_an_agent() -> None:
    live = Waiter("live", "worker-1", NOW + MICROS)
    assert not decided("background", (), (live,))[0]
    assert decided("agent", (), (live,))[0]
    assert decided("live", (), (live,))[0]  # the same priority takes turns as it comes


def test_a_caller_never_stands_aside_for_itself_and_is_forgotten_once_admitted() -> None:
    me = Waiter("background", "me", NOW + MICROS)
    admitted, _wait, waiters = decided("background", (), (me,))
    assert admitted
    assert waiters == ()


def test_an_expired_waiter_holds_no_one_back() -> None:
    gone = Waiter("agent", "crashed", NOW - 1)
    admitted, _wait, waiters = decided("background", (), (gone,))
    assert admitted
    assert waiters == ()


def test_background_work_leaves_headroom_for_the_others() -> None:
    almost = full(LIMIT - BACKGROUND_HEADROOM)
    assert not decided("background", almost)[0]
    assert decided("live", almost)[0]
    assert decided("agent", almost)[0]


def test_a_refused_caller_is_noted_as_waiting_until_it_asks_again() -> None:
    admitted, wait, waiters = decided("agent", full())
    assert not admitted
    assert wait > 0
    (me,) = waiters
    assert me.priority == "agent"
    assert me.waiter_id == "me"
    assert me.until_us == NOW + min(wait, WAITER_POLL_US) + WAITER_GRACE_US


def test_a_waiter_that_gives_up_is_removed() -> None:
    waiters = (Waiter("agent", "a", NOW + 5), Waiter("live", "b", NOW + 5), Waiter("x", "c", 0))  # type: ignore[arg-type]
    assert without_waiter(waiters, "a", NOW) == (Waiter("live", "b", NOW + 5),)


_waiters = st.lists(
    st.builds(
        Waiter,
        st.sampled_from(PRIORITIES),
        st.sampled_from(["a", "b", "c", "me"]),
        st.integers(NOW - 2 * MICROS, NOW + 2 * MICROS),
    ),
    max_size=6,
)
_stamps = st.lists(st.integers(NOW - 2 * WINDOW, NOW), max_size=LIMIT + 5)


_agent_seen = st.integers(0, NOW)


@given(_stamps, _waiters, st.sampled_from(PRIORITIES), st.integers(1, LIMIT), _agent_seen)
def test_priorities_never_admit_more_than_the_limit(
    stamps: list[int], waiters: list[Waiter], priority: Priority, limit: int, agent_seen: int
) -> None:
    lane = decide_in_lane(
        stamps,
        waiters,
        NOW,
        limit,
        WINDOW,
        priority=priority,
        waiter_id="me",
        agent_seen_us=agent_seen,
    )
    in_window = [s for s in lane.decision.stamps if s > NOW - WINDOW]
    if lane.decision.admitted:
        assert len(in_window) <= limit
        assert all(w.waiter_id != "me" for w in lane.waiters)
    else:
        assert lane.decision.wait_us > 0
        assert [w.waiter_id for w in lane.waiters].count("me") == 1


@given(_stamps, _waiters, st.sampled_from(PRIORITIES), _agent_seen)
def test_a_caller_is_refused_with_room_only_for_a_more_urgent_waiter_or_the_headroom(
    stamps: list[int], waiters: list[Waiter], priority: Priority, agent_seen: int
) -> None:
    lane = decide_in_lane(
        stamps,
        waiters,
        NOW,
        LIMIT,
        WINDOW,
        priority=priority,
        waiter_id="me",
        agent_seen_us=agent_seen,
    )
    used = len([s for s in stamps if s > NOW - WINDOW])
    rank = PRIORITIES.index(priority)
    someone_ahead = any(
        PRIORITIES.index(w.priority) < rank and w.until_us > NOW and w.waiter_id != "me"
        for w in waiters
    )
    agent_at_work = NOW - agent_seen < AGENT_PRESENCE_US
    own_limit = {
        "background": LIMIT - BACKGROUND_HEADROOM,
        "live": LIMIT - AGENT_SPARE if agent_at_work else LIMIT,
        "agent": LIMIT,
    }[priority]
    assert lane.decision.admitted == (used < own_limit and not someone_ahead)


# --- agents at work: spare slots -------------------------------------------------------------


def test_while_an_agent_is_at_work_live_events_leave_it_spare_slots() -> None:
    lately = NOW - AGENT_PRESENCE_US + MICROS
    almost_full = full(LIMIT - AGENT_SPARE)
    live = decide_in_lane(
        almost_full, (), NOW, LIMIT, WINDOW, priority="live", waiter_id="w", agent_seen_us=lately
    )
    assert not live.decision.admitted
    agent = decide_in_lane(almost_full, (), NOW, LIMIT, WINDOW, priority="agent", waiter_id="a")
    assert agent.decision.admitted  # at once: the spare slot was there


def test_with_no_agent_at_work_lately_live_events_use_the_whole_window() -> None:
    long_ago = NOW - AGENT_PRESENCE_US
    lane = decide_in_lane(
        full(LIMIT - 1),
        (),
        NOW,
        LIMIT,
        WINDOW,
        priority="live",
        waiter_id="w",
        agent_seen_us=long_ago,
    )
    assert lane.decision.admitted


def test_an_agent_asking_for_a_slot_is_remembered_even_when_refused() -> None:
    for stamps in ((), full()):
        lane = decide_in_lane(stamps, (), NOW, LIMIT, WINDOW, priority="agent", waiter_id="a")
        assert lane.agent_seen_us == NOW
    live = decide_in_lane(
        (), (), NOW, LIMIT, WINDOW, priority="live", waiter_id="w", agent_seen_us=7
    )
    assert live.agent_seen_us == 7  # the others leave it as it was


def test_a_small_limit_spares_a_tenth_of_it() -> None:
    assert [agent_spare(limit) for limit in (1, 9, 10, 19, 20, 50)] == [0, 0, 1, 1, 2, 2]
