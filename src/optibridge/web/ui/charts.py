"""The control panel's bar charts, drawn on the server as SVG (`ui/_charts.html`): shapes in
the SVG's own units, so that a page is readable without JavaScript. `sync_charts` (the sync
log's last day) and `budget_chart` (the site's last hour of Optimove calls) build them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 480
HEIGHT = 190
LEFT, RIGHT, TOP, BOTTOM = 34, 8, 10, 24
PLOT_WIDTH = WIDTH - LEFT - RIGHT
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    tip: str  # shown on hover (an SVG <title>)


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    """One bar chart, in the SVG's own units (`WIDTH` by `HEIGHT`)."""

    id: str
    title: str
    description: str
    bars: list[Bar]
    gridlines: list[Label]  # y, and the value at that height (x is the axis)
    hours: list[Label]  # the times under the bars
    legend: list[tuple[str, str]]  # (css, label)
    limit: Label | None = None  # the limit's line: its height, and what it says


def bar(index: int, slots: int, base: int, count: int, top: int, css: str, tip: str) -> Bar:
    slot = PLOT_WIDTH / slots
    width = slot * 0.72
    y_top = y_of(base + count, top)
    return Bar(
        x=round(LEFT + index * slot + (slot - width) / 2, 1),
        y=round(y_top, 1),
        width=round(width, 1),
        height=round(y_of(base, top) - y_top, 1),
        css=css,
        tip=tip,
    )


def ticks(texts: Sequence[str | None]) -> list[Label]:
    """The labels under the bars, one per bar (None: that bar has none)."""
    slot = PLOT_WIDTH / len(texts)
    return [
        Label(round(LEFT + (index + 0.5) * slot, 1), HEIGHT - 8, text)
        for index, text in enumerate(texts)
        if text is not None
    ]


def y_of(value: float, top: int) -> float:
    return TOP + PLOT_HEIGHT * (1 - value / top)


def gridlines(top: int) -> list[Label]:
    return [Label(LEFT, round(y_of(value, top), 1), str(value)) for value in (0, top // 2, top)]


def nice_top(value: int) -> int:
    """The scale's top: at least `value`, 1, 2, 4 or 5 times a power of ten, and even (the
    middle gridline at a whole number)."""
    if value <= 2:
        return 2
    power = int(10 ** math.floor(math.log10(value)))
    for step in (1, 2, 4, 5, 10):
        if step * power >= value and (step * power) % 2 == 0:
            return step * power
    return 10 * power
