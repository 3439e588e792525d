"""A backfill's moves, its cursor through the listings and its progress (SPEC 4.7)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optibridge.domain.backfills import (
    ACTIONS,
    BACKFILL_STATES,
    FINAL,
    Action,
    BackfillState,
    Cursor,
    NotAllowed,
    Progress,
    after,
    eta_s,
    per_minute,
)

# --- the state machine -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "action", "started", "expected"),
    [
        ("queued", "pause", False, "paused"),
        ("running", "pause", True, "paused"),
        ("paused", "resume", True, "running"),
        ("paused", "resume", False, "queued"),  # paused before its first step
        ("queued", "cancel", False, "cancelled"),
        ("running", "cancel", True, "cancelled"),
        ("paused", "cancel", True, "cancelled"),
    ],
)
def test_the_moves_an_administrator_may_make(
    state: BackfillState, action: Action, started: bool, expected: BackfillState
) -> None:
    assert after(state, action, started=started) == expected


@pytest.mark.parametrize(
    ("state", "action", "message"),
    [
        ("paused", "pause", "paused already"),
        ("running", "resume", "nothing to resume"),
        ("queued", "resume", "nothing to resume"),
        ("done", "cancel", "done: it can't be cancelled"),
        ("cancelled", "resume", "cancelled: it can't be resumed"),
        ("failed", "pause", "failed: it can't be paused"),
    ],
)
def test_a_move_that_does_not_apply_says_why(
    state: BackfillState, action: Action, message: str
) -> None:
    with pytest.raises(NotAllowed, match=message):
        after(state, action, started=True)


@given(st.sampled_from(BACKFILL_STATES), st.sampled_from(ACTIONS), st.booleans())
def test_nothing_leaves_a_final_state_and_every_move_lands_on_a_known_one(
    state: BackfillState, action: Action, started: bool
) -> None:
    try:
        moved = after(state, action, started=started)
    except NotAllowed:
        return
    assert state not in FINAL
    assert moved in BACKFILL_STATES
    assert moved != state


# --- the cursor --------------------------------------------------------------------------------


def test_live_chat_lists_chats_then_offline_messages() -> None:
    cursor = Cursor.start("livechat")
    assert (cursor.kind, cursor.page) == ("chat", 1)

    cursor = cursor.after_page("livechat", 50, total=120, more=True)
    assert (cursor.kind, cursor.page, cursor.total) == ("chat", 2, 120)
    cursor = cursor.after_page("livechat", 50, total=120, more=True)
    cursor = cursor.after_page("livechat", 18, total=120, more=False)
    # Over: what the kind listed is its total (two chats went while it was being listed).
    assert (cursor.kind, cursor.page, cursor.total) == ("offline_message", 1, 118)
    cursor = cursor.after_page("livechat", 3, total=None, more=False)

    assert cursor.listed_all
    assert cursor.total == 121
    assert cursor.listed == {"chat": 118, "offline_message": 3}


def test_ticketing_lists_tickets() -> None:
    cursor = Cursor.start("ticketing").after_page("ticketing", 0, total=0, more=False)

    assert cursor.listed_all
    assert cursor.total == 0


def test_a_total_below_what_was_listed_does_not_shrink_it() -> None:
    cursor = Cursor.start("ticketing").after_page("ticketing", 50, total=10, more=True)

    assert cursor.total == 50


def test_the_cursor_round_trips_and_starts_over_from_nothing() -> None:
    cursor = Cursor.start("livechat").after_page("livechat", 50, total=70, more=True)

    assert Cursor.from_json("livechat", cursor.to_json()) == cursor
    assert Cursor.from_json("livechat", {}) == Cursor.start("livechat")
    assert Cursor.from_json("livechat", None) == Cursor.start("livechat")


# --- progress ----------------------------------------------------------------------------------


def progress(total: int, done: int, skipped: int = 0, failed: int = 0) -> Progress:
    return Progress(
        total=total, done=done, skipped=skipped, failed=failed, in_progress=0, already_synced=0
    )


def test_the_eta_goes_by_the_pace_so_far() -> None:
    # 30 finished in 60 s of running: 70 more take 140 s.
    assert eta_s(progress(100, 20, skipped=5, failed=5), 60.0) == pytest.approx(140.0)
    assert per_minute(progress(100, 20, skipped=5, failed=5), 60.0) == pytest.approx(30.0)


def test_there_is_no_eta_before_a_pace() -> None:
    assert eta_s(progress(100, 0), 60.0) is None
    assert eta_s(progress(100, 10), 0.0) is None
    assert per_minute(progress(100, 0), 60.0) is None


def test_a_finished_backfill_has_nothing_left() -> None:
    assert eta_s(progress(10, 9, skipped=1), 5.0) == 0.0


@given(
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.floats(0.001, 1e6),
)
def test_the_eta_is_never_negative(total: int, done: int, failed: int, active_s: float) -> None:
    eta = eta_s(progress(total, done, failed=failed), active_s)
    assert eta is None or eta >= 0
