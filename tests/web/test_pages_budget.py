"""The site page's picture of Optimove's budget (SPEC 4.5, issue "Agents first"): the site's
calls of the last hour, five minutes at a time, by the budget's lane; readable without
JavaScript, with its numbers in a table, and a plain word when the budget was the bottleneck."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.store.test_sync_log import add_call, add_record
from tests.web.conftest import Service
from tests.web.test_pages_syncs import signed_in
from tests.web.ui_client import Element, page

SITE = 10000
SITE_PAGE = f"/ui/sites/{SITE}"

__all__ = ["signed_in"]  # the fixture this module uses


def calls(service: Service, *lanes: str | None, site_id: int = SITE, apart_s: float = 1.0) -> None:
    """One call per lane given, `apart_s` apart, ending now (None: a call with no lane)."""
    now = datetime.now(UTC)
    with service.runtime.unit_of_work() as session:
        record = add_record(session, site_id, received_at=now)
        for index, lane in enumerate(lanes):
            add_call(session, record, at=now - timedelta(seconds=index * apart_s), lane=lane)


def budget(service: Service) -> Element:
    return page(service.client.get(SITE_PAGE)).by_id("budget")


def test_the_hours_calls_are_drawn_by_lane_without_javascript(signed_in: Service) -> None:
    calls(signed_in, "agent", "agent", "live", "live", "live", "background")
    calls(signed_in, "live", site_id=20000)  # another site's
    card = budget(signed_in)
    assert card.find_all("script") == []
    [svg] = card.find_all("svg")
    assert svg.attrs["role"] == "img"
    description = card.by_id("chart-budget-desc").text()
    assert description == (
        "6 Optimove calls in the last hour (2 agents, 3 live events, 1 background); the busiest"
        " 10 s had 6, against a limit of 50."
    )
    by_lane: dict[str, int] = {}
    for rect in svg.find_all("rect"):
        tip = rect.find_all("title")[0].text()
        by_lane[rect.attrs["class"]] = int(tip.split(": ")[1].split(" call")[0])
    assert by_lane == {"series-lane-agent": 2, "series-lane-live": 3, "series-lane-background": 1}
    legend = [item.text() for item in card.find_all("li")]
    assert [label.split(" (")[0] for label in legend] == ["Agents", "Live events", "Background"]
    assert not card.has_id("budget-bottleneck")


def test_the_numbers_are_in_a_table_with_the_hours_totals(signed_in: Service) -> None:
    calls(signed_in, "agent", "live", "live", None)
    [table] = budget(signed_in).find_all("table")
    headings = [th.text() for th in table.find_all("thead")[0].find_all("th")]
    assert headings[0] == "From (UTC)"
    assert headings[-3:] == [
        "Lane not recorded (before an upgrade)",
        "All calls",
        "Busiest 10 s (limit 50)",
    ]
    assert len(table.find_all("tbody")[0].find_all("tr")) == 12
    [total] = table.find_all("tfoot")[0].find_all("tr")
    assert [cell.text() for cell in total.find_all("td")] == ["1", "2", "0", "1", "4", "4"]


def test_a_budget_used_to_the_limit_is_called_the_bottleneck(signed_in: Service) -> None:
    calls(signed_in, *["live"] * 45, *["agent"] * 5, apart_s=0.1)
    notice = budget(signed_in).by_id("budget-bottleneck").text()
    assert notice.startswith("Optimove's budget was the bottleneck:")
    assert "made 50 calls, the limit" in notice


def test_an_hour_without_calls_says_so(signed_in: Service) -> None:
    card = budget(signed_in)
    assert card.by_id("chart-budget-desc").text() == "No Optimove call in the last hour."
    assert card.find_all("rect") == []
