"""The sync log's last day, hour by hour (`services.activity.day_activity`): records by outcome,
Optimove calls, and the busiest window of the rate limit in each hour; and the site page's last
hour of calls by the budget's lane (`budget_hour`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from optibridge.services.activity import BudgetHour, DayActivity, budget_hour, day_activity
from optibridge.store.db import session_factory
from tests.store.test_sync_log import OTHER_SITE, SITE, add_call, add_record, add_site, add_write

NOW = datetime(2026, 3, 2, 14, 25, tzinfo=UTC)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session, session.begin():
        add_site(session, SITE)
        add_site(session, OTHER_SITE)
        yield session


def activity(session: Session) -> DayActivity:
    return day_activity(session, SITE, window_s=10, now=NOW)


def test_the_day_is_the_last_24_hours_the_one_under_way_last(session: Session) -> None:
    hours = activity(session).hours
    assert len(hours) == 24
    assert hours[-1].start == datetime(2026, 3, 2, 14, tzinfo=UTC)
    assert hours[0].start == datetime(2026, 3, 1, 15, tzinfo=UTC)


def test_records_are_counted_in_the_hour_they_arrived_by_outcome(session: Session) -> None:
    add_record(session, received_at=NOW - timedelta(minutes=5), outcome="updated")
    add_record(session, received_at=NOW - timedelta(minutes=20), outcome="failed", state="failed")
    add_record(session, received_at=NOW - timedelta(minutes=40), outcome="created")
    add_record(session, received_at=NOW - timedelta(minutes=1), outcome=None, state="queued")
    add_record(session, received_at=NOW - timedelta(hours=25), outcome="updated")  # too old
    add_record(session, OTHER_SITE, received_at=NOW, outcome="updated")
    hours = activity(session).hours
    now, before = hours[-1], hours[-2]
    assert (now.outcomes["updated"], now.outcomes["failed"], now.in_progress) == (1, 1, 1)
    assert now.received == 3
    assert (before.outcomes["created"], before.received) == (1, 1)
    assert sum(hour.received for hour in hours) == 4


def test_agents_views_are_not_records_of_the_day(session: Session) -> None:
    add_record(session, received_at=NOW, event="console_lookup", outcome="unchanged")
    assert activity(session).hours[-1].received == 0


def test_calls_are_counted_with_the_busiest_window_of_each_hour(session: Session) -> None:
    record = add_record(session, received_at=NOW - timedelta(hours=2))
    start = NOW - timedelta(minutes=20)
    for second in (0, 1, 2, 9, 30):  # four within 10 s of the first
        add_call(session, record, at=start + timedelta(seconds=second))
    add_call(session, record, at=NOW - timedelta(hours=1, minutes=10))
    hours = activity(session).hours
    assert (hours[-1].calls, hours[-1].busiest) == (5, 4)
    assert (hours[-2].calls, hours[-2].busiest) == (1, 1)
    assert hours[0].calls == 0


def test_calls_for_agents_views_spend_the_budget_too(session: Session) -> None:
    view = add_record(session, received_at=NOW, event="console_lookup")
    add_call(session, view, at=NOW - timedelta(minutes=1))
    assert activity(session).hours[-1].calls == 1


def test_a_write_that_carried_several_records_is_one_call(session: Session) -> None:
    write = add_write(session)
    at = NOW - timedelta(minutes=3)
    for _ in range(3):
        record = add_record(session, received_at=at)
        add_call(session, record, endpoint="POST Customers/UpdateCustomerAttributes", at=at)
        add_call(
            session,
            record,
            endpoint="POST Customers/UpdateCustomerAttributes",
            write_id=write.id,
            at=at,
        )
    assert activity(session).hours[-1].calls == 3 + 1  # three reads, one write


def test_another_sites_calls_are_not_counted(session: Session) -> None:
    other = add_record(session, OTHER_SITE, received_at=NOW)
    add_call(session, other, at=NOW)
    assert activity(session).hours[-1].calls == 0


# --- the last hour, by lane ---------------------------------------------------------------------


HOUR_NOW = NOW + timedelta(minutes=3)  # 14:28, three minutes into the step under way


def hour_of(session: Session) -> BudgetHour:
    return budget_hour(session, SITE, window_s=10, now=HOUR_NOW)


def test_the_hour_is_twelve_steps_of_five_minutes_the_one_under_way_last(
    session: Session,
) -> None:
    steps = hour_of(session).steps
    assert len(steps) == 12
    assert steps[-1].start == datetime(2026, 3, 2, 14, 25, tzinfo=UTC)
    assert steps[0].start == datetime(2026, 3, 2, 13, 30, tzinfo=UTC)
    assert all(step.calls == 0 for step in steps)


def test_calls_are_counted_by_lane_in_the_step_they_were_sent(session: Session) -> None:
    view = add_record(session, received_at=HOUR_NOW, event="console_lookup")
    chat = add_record(session, received_at=HOUR_NOW)
    add_call(session, view, at=HOUR_NOW - timedelta(seconds=30), lane="agent")
    add_call(session, chat, at=HOUR_NOW - timedelta(seconds=20), lane="live")
    add_call(session, chat, at=HOUR_NOW - timedelta(seconds=10), lane="background")
    add_call(session, chat, at=HOUR_NOW - timedelta(minutes=7), lane="live")
    add_call(session, chat, at=HOUR_NOW - timedelta(minutes=61), lane="live")  # before the hour
    add_call(session, chat, at=HOUR_NOW - timedelta(minutes=8))  # logged before lanes were
    hour = hour_of(session)
    last, before = hour.steps[-1], hour.steps[-2]
    assert (last.by_lane["agent"], last.by_lane["live"], last.by_lane["background"]) == (1, 1, 1)
    assert (before.by_lane["live"], before.by_lane["unrecorded"]) == (1, 1)
    assert (hour.total("live"), hour.total("unrecorded"), hour.total("agent")) == (2, 1, 1)
    assert sum(step.calls for step in hour.steps) == 5


def test_each_step_has_the_busiest_window_of_all_lanes_together(session: Session) -> None:
    record = add_record(session, received_at=HOUR_NOW)
    start = HOUR_NOW - timedelta(minutes=2)
    for second, lane in ((0, "agent"), (1, "live"), (5, "background"), (9, "live"), (11, "live")):
        add_call(session, record, at=start + timedelta(seconds=second), lane=lane)
    assert hour_of(session).steps[-1].busiest == 4


def test_a_write_for_several_records_is_one_call_of_its_lane(session: Session) -> None:
    write = add_write(session)
    for _ in range(3):
        record = add_record(session, received_at=HOUR_NOW)
        add_call(
            session, record, write_id=write.id, at=HOUR_NOW - timedelta(minutes=1), lane="live"
        )
    assert hour_of(session).total("live") == 1


def test_a_lane_this_version_does_not_know_is_counted_as_unrecorded(session: Session) -> None:
    record = add_record(session, received_at=HOUR_NOW)
    add_call(session, record, at=HOUR_NOW - timedelta(minutes=1), lane="batch")
    assert hour_of(session).total("unrecorded") == 1
