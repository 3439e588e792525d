"""The sync log's picture of the last day, drawn on the server as SVG: readable without
JavaScript, each chart with its title and description for screen readers, and the same numbers
as a table (`ui/_day_charts.html` draws what is computed here).

- *Records per hour*: the records received each hour, stacked by what happened to them.
- *Optimove calls against the limit*: the busiest window of Optimove's rate limit (50 calls per
  10 s per API key by default) in each hour, beside the limit's line; the calls of the hour are
  in the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from optibridge.services.activity import DayActivity, HourActivity
from optibridge.web.ui.charts import (
    LEFT,
    Bar,
    Chart,
    Label,
    bar,
    gridlines,
    nice_top,
    ticks,
    y_of,
)


@dataclass(frozen=True)
class Series:
    """A group of outcomes drawn in one colour (`css`: the class that colours it)."""

    css: str
    label: str
    outcomes: tuple[str, ...]
    with_in_progress: bool = False

    def count(self, hour: HourActivity) -> int:
        counted = sum(hour.outcomes.get(outcome, 0) for outcome in self.outcomes)
        return counted + (hour.in_progress if self.with_in_progress else 0)


SERIES = (
    Series("written", "Written to Optimove", ("created", "updated")),
    Series("unchanged", "Unchanged", ("unchanged",)),
    Series("not-written", "Not written", ("no_match", "unidentified", "needs_contact", "skipped")),
    Series("failed", "Failed", ("failed",)),
    Series("waiting", "In progress", ("pending",), with_in_progress=True),
)


@dataclass(frozen=True)
class DayCharts:
    records: Chart
    calls: Chart
    rows: list[HourRow]  # the table beside them


@dataclass(frozen=True)
class HourRow:
    hour: str  # "14:00"
    received: int
    by_series: list[int]  # in `SERIES` order
    calls: int
    busiest: int


def day_charts(activity: DayActivity, *, limit: int) -> DayCharts:
    hours = activity.hours
    window = f"{activity.window_s:g} s"
    return DayCharts(
        records=_records_chart(hours),
        calls=_calls_chart(hours, limit, window),
        rows=[
            HourRow(
                _hour(hour),
                hour.received,
                [series.count(hour) for series in SERIES],
                hour.calls,
                hour.busiest,
            )
            for hour in hours
        ],
    )


def _records_chart(hours: Sequence[HourActivity]) -> Chart:
    total = sum(hour.received for hour in hours)
    top = nice_top(max((hour.received for hour in hours), default=0))
    bars: list[Bar] = []
    for index, hour in enumerate(hours):
        base = 0
        for series in SERIES:
            count = series.count(hour)
            if count:
                tip = f"{_hour(hour)} UTC: {count} {series.label.lower()}"
                bars.append(bar(index, len(hours), base, count, top, series.css, tip))
                base += count
    if total:
        peak = max(hours, key=lambda hour: hour.received)
        parts = [
            f"{sum(series.count(hour) for hour in hours)} {series.label.lower()}"
            for series in SERIES
        ]
        description = (
            f"{total} record{'s' if total != 1 else ''} received in the last {len(hours)} hours"
            f" ({', '.join(parts)}); the most in one hour: {peak.received}, at"
            f" {_hour(peak)} UTC."
        )
    else:
        description = f"No record was received in the last {len(hours)} hours."
    return Chart(
        id="chart-records",
        title="Records per hour, by what happened to them",
        description=description,
        bars=bars,
        gridlines=gridlines(top),
        hours=_hour_labels(hours),
        legend=[(series.css, series.label) for series in SERIES],
    )


def _calls_chart(hours: Sequence[HourActivity], limit: int, window: str) -> Chart:
    top = nice_top(max(limit, *(hour.busiest for hour in hours)))
    bars = [
        bar(
            index,
            len(hours),
            0,
            hour.busiest,
            top,
            "over" if hour.busiest > limit else "calls",
            f"{_hour(hour)} UTC: {hour.calls} call{'s' if hour.calls != 1 else ''}, at most"
            f" {hour.busiest} in {window}",
        )
        for index, hour in enumerate(hours)
        if hour.busiest
    ]
    total = sum(hour.calls for hour in hours)
    if total:
        peak = max(hours, key=lambda hour: hour.busiest)
        description = (
            f"{total} Optimove call{'s' if total != 1 else ''} in the last {len(hours)} hours;"
            f" the busiest {window} had {peak.busiest}, at {_hour(peak)} UTC, against a limit"
            f" of {limit}."
        )
    else:
        description = f"No Optimove call in the last {len(hours)} hours (the limit: {limit})."
    return Chart(
        id="chart-calls",
        title=f"Optimove calls: the busiest {window} of each hour, against the limit",
        description=description,
        bars=bars,
        gridlines=gridlines(top),
        hours=_hour_labels(hours),
        legend=[("calls", f"Calls in the busiest {window}"), ("limit", f"Limit: {limit}")],
        limit=Label(LEFT, round(y_of(limit, top), 1), f"limit {limit}"),
    )


def _hour_labels(hours: Sequence[HourActivity]) -> list[Label]:
    return ticks([_hour(hour) if hour.start.hour % 3 == 0 else None for hour in hours])


def _hour(hour: HourActivity) -> str:
    return hour.start.strftime("%H:00")
