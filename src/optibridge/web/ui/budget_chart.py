"""The site page's picture of Optimove's budget: the site's calls of the last hour, five minutes
at a time, stacked by the budget's lane (SPEC 4.5: agents first, then live events, then
background work), so an administrator sees who spends the budget and whether it is the
bottleneck. Drawn as SVG by `ui/_charts.html`, with the same numbers as a table."""

from __future__ import annotations

from dataclasses import dataclass

from optibridge.services.activity import UNRECORDED_LANE, BudgetHour, BudgetStep
from optibridge.web.ui.charts import (
    Bar,
    Chart,
    Label,
    bar,
    gridlines,
    nice_top,
    ticks,
)

# Lanes in the order they are stacked (agents at the bottom) and their words.
LANE_LABELS = (
    ("agent", "Agents (the tab, connection tests)"),
    ("live", "Live events (chats, offline messages, tickets)"),
    ("background", "Background (read-backs, backfills, previews)"),
    (UNRECORDED_LANE, "Lane not recorded (before an upgrade)"),
)


@dataclass(frozen=True)
class StepRow:
    time: str  # "14:05"
    by_lane: list[int]  # in `lanes` order
    calls: int
    busiest: int


@dataclass(frozen=True)
class BudgetChart:
    chart: Chart
    lanes: list[tuple[str, str]]  # (lane, label) of the lanes shown: the unrecorded one if any
    rows: list[StepRow]
    totals: list[int]  # per lane of `lanes`, the hour's
    busiest: int  # the busiest window of the hour
    limit: int
    window: str  # "10 s"
    bottleneck: bool  # the hour's busiest window reached the limit: calls had to wait


def budget_chart(hour: BudgetHour, *, limit: int) -> BudgetChart:
    lanes = [
        (lane, label)
        for lane, label in LANE_LABELS
        if lane != UNRECORDED_LANE or hour.total(UNRECORDED_LANE)
    ]
    steps = hour.steps
    window = f"{hour.window_s:g} s"
    minutes = round(hour.step_s / 60)
    busiest = max((step.busiest for step in steps), default=0)
    totals = [hour.total(lane) for lane, _label in lanes]
    top = nice_top(max((step.calls for step in steps), default=0))
    bars: list[Bar] = []
    for index, step in enumerate(steps):
        base = 0
        for lane, label in lanes:
            count = step.by_lane[lane]
            if count:
                tip = f"{_time(step)} UTC, {minutes} min: {count} call{_s(count)}, {label.lower()}"
                bars.append(bar(index, len(steps), base, count, top, f"lane-{lane}", tip))
                base += count
    total = sum(totals)
    if total:
        parts = ", ".join(
            f"{count} {label.split(' (')[0].lower()}"
            for count, (_lane, label) in zip(totals, lanes, strict=True)
        )
        description = (
            f"{total} Optimove call{_s(total)} in the last hour ({parts}); the busiest {window}"
            f" had {busiest}, against a limit of {limit}."
        )
    else:
        description = "No Optimove call in the last hour."
    chart = Chart(
        id="chart-budget",
        title=f"Optimove calls every {minutes} minutes, by who made them",
        description=description,
        bars=bars,
        gridlines=gridlines(top),
        hours=_time_labels(steps),
        legend=[(f"lane-{lane}", label) for lane, label in lanes],
    )
    return BudgetChart(
        chart=chart,
        lanes=lanes,
        rows=[
            StepRow(
                _time(step),
                [step.by_lane[lane] for lane, _label in lanes],
                step.calls,
                step.busiest,
            )
            for step in steps
        ],
        totals=totals,
        busiest=busiest,
        limit=limit,
        window=window,
        bottleneck=busiest >= limit,
    )


def _time_labels(steps: list[BudgetStep]) -> list[Label]:
    return ticks([_time(step) if index % 3 == 0 else None for index, step in enumerate(steps)])


def _time(step: BudgetStep) -> str:
    return step.start.strftime("%H:%M")


def _s(count: int) -> str:
    return "" if count == 1 else "s"
