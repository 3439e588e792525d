"""What a site's records and Optimove calls looked like over time, for the control panel's
charts (drawn in `web/ui/sync_charts.py` and `web/ui/budget_chart.py`).

- `day_activity`: the sync log's last day, hour by hour: records by outcome, and the Optimove
  calls with the busiest window of the rate limit in each hour.
- `budget_hour`: the last hour of Optimove calls, a few minutes at a time, by the budget's lane
  (SPEC 4.5: agents, live events, background work), to see who spent the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from optibridge.domain.budget import PRIORITIES
from optibridge.domain.records import OUTCOMES
from optibridge.store.sync_log import SyncLogRepository
from optibridge.sync.sites import get_site

# A call logged without its lane: made before lanes were recorded (an upgrade), or a write
# that never got an answer.
UNRECORDED_LANE = "unrecorded"
LANES = (*PRIORITIES, UNRECORDED_LANE)


@dataclass(frozen=True)
class HourActivity:
    """One hour of a site's sync log: the records received, by outcome, and the Optimove
    calls made (all of them, those for agents' views too: they spend the same budget)."""

    start: datetime
    outcomes: dict[str, int]  # every outcome listed
    in_progress: int  # received, not decided yet
    calls: int
    busiest: int  # calls in the busiest window of the rate limit that began in this hour

    @property
    def received(self) -> int:
        return sum(self.outcomes.values()) + self.in_progress


@dataclass(frozen=True)
class DayActivity:
    hours: list[HourActivity]  # oldest first; the last is the hour under way
    window_s: float  # the rate limit's window, which `busiest` counts over

    @property
    def since(self) -> datetime:
        return self.hours[0].start


def day_activity(
    session: Session,
    site_id: int,
    *,
    window_s: float,
    hours: int = 24,
    now: datetime | None = None,
) -> DayActivity:
    """The last `hours` hours (the one under way included), hour by hour: records received by
    outcome, and Optimove calls with the busiest `window_s` seconds of each hour."""
    get_site(session, site_id)
    until = now or datetime.now(UTC)
    first = until.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    starts = [first + timedelta(hours=index) for index in range(hours)]
    repository = SyncLogRepository(session)
    outcomes: list[dict[str, int]] = [dict.fromkeys(OUTCOMES, 0) for _ in starts]
    in_progress = [0] * hours
    for received_at, outcome in repository.received_outcomes(site_id, first):
        index = _hour_index(received_at, first, hours)
        if index is None:
            continue
        if outcome in outcomes[index]:
            outcomes[index][outcome] += 1
        else:
            in_progress[index] += 1
    calls = [0] * hours
    busiest = [0] * hours
    times = repository.call_times(site_id, first)
    for sent_at, in_window in zip(times, _calls_in_window(times, window_s), strict=True):
        index = _hour_index(sent_at, first, hours)
        if index is None:
            continue
        calls[index] += 1
        busiest[index] = max(busiest[index], in_window)
    return DayActivity(
        hours=[
            HourActivity(starts[i], outcomes[i], in_progress[i], calls[i], busiest[i])
            for i in range(hours)
        ],
        window_s=window_s,
    )


def _hour_index(moment: datetime, first: datetime, hours: int) -> int | None:
    index = int((moment - first).total_seconds() // 3600)
    return index if 0 <= index < hours else None


@dataclass(frozen=True)
class BudgetStep:
    """A few minutes of a site's Optimove calls: how many each lane made, and the busiest
    window of the rate limit that began in them (all lanes together)."""

    start: datetime
    by_lane: dict[str, int]  # every lane of `LANES`
    busiest: int

    @property
    def calls(self) -> int:
        return sum(self.by_lane.values())


@dataclass(frozen=True)
class BudgetHour:
    steps: list[BudgetStep]  # oldest first; the last is the one under way
    step_s: float
    window_s: float  # the rate limit's window, which `busiest` counts over

    def total(self, lane: str) -> int:
        return sum(step.by_lane[lane] for step in self.steps)


def budget_hour(
    session: Session,
    site_id: int,
    *,
    window_s: float,
    minutes: int = 60,
    step_minutes: int = 5,
    now: datetime | None = None,
) -> BudgetHour:
    """The last `minutes` of the site's Optimove calls, `step_minutes` at a time (the step
    under way included, last): calls per lane, and the busiest `window_s` of each step."""
    get_site(session, site_id)
    until = now or datetime.now(UTC)
    step = timedelta(minutes=step_minutes)
    current = until.replace(second=0, microsecond=0) - timedelta(
        minutes=until.minute % step_minutes
    )
    count = max(1, minutes // step_minutes)
    first = current - step * (count - 1)
    by_lane = [dict.fromkeys(LANES, 0) for _ in range(count)]
    calls = SyncLogRepository(session).calls_since(site_id, first)
    in_windows = _calls_in_window([at for at, _lane in calls], window_s)
    busiest = [0] * count
    for (sent_at, lane), in_window in zip(calls, in_windows, strict=True):
        index = int((sent_at - first) / step)
        if not 0 <= index < count:
            continue
        by_lane[index][lane if lane in by_lane[index] else UNRECORDED_LANE] += 1
        busiest[index] = max(busiest[index], in_window)
    return BudgetHour(
        steps=[
            BudgetStep(first + step * index, by_lane[index], busiest[index])
            for index in range(count)
        ],
        step_s=step.total_seconds(),
        window_s=window_s,
    )


def _calls_in_window(times: list[datetime], window_s: float) -> list[int]:
    """For each call of `times` (in order), the calls sent in the rate limit's window that
    begins with it: the busiest window of a period is the largest of its calls' counts."""
    window = timedelta(seconds=window_s)
    counts = []
    end = 0
    for start, sent_at in enumerate(times):
        end = max(end, start)
        while end < len(times) and times[end] - sent_at < window:
            end += 1
        counts.append(end - start)
    return counts
