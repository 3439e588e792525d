"""A backfill in the control panel, in a real browser, against `optibridge demo` as a process
(SPEC 4.7's done-when, on the demo): the demo's past week of conversations in the Comm100
sandbox, backfilled from the sync log's Backfill card, paused and resumed there, followed by
the page's script to its end; it finishes with counts that add up and one sync record per
conversation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e import screenshots
from tests.e2e.test_control_panel import (
    ADMIN_TOKEN,
    Demo,
    browser_context_args,
    demo,
    script_errors,
    sign_in,
)

pytestmark = pytest.mark.integration

__all__ = ["browser_context_args", "demo"]  # the fixtures, shared with the control panel's tests

DEMO_SITE = 10000


def test_a_backfill_of_the_demos_past_chats_runs_to_its_end_from_the_card(
    page: Page, demo: Demo
) -> None:
    errors = script_errors(page)
    comm100 = f"{demo.url}/sandbox/comm100/_sandbox"
    # Comm100 answers slowly at first, so the backfill can be seen running and paused.
    httpx.put(f"{comm100}/faults", json={"latency_ms": 1500}, timeout=10).raise_for_status()
    sign_in(page, demo)
    page.goto(f"{demo.url}/ui/sites/{DEMO_SITE}/syncs")
    card = page.locator("#backfill")

    card.get_by_label("Channel").select_option("livechat")
    since = datetime.now(UTC) - timedelta(days=8)
    card.get_by_label("From (UTC)").fill(since.strftime("%Y-%m-%dT%H:%M"))
    card.get_by_role("button", name="Start backfill").click()
    expect(page.locator(".flash")).to_contain_text("Backfill 1 of Live Chat started")
    expect(card.locator("progress")).to_have_count(1)
    card.get_by_role("button", name="Pause backfill 1").click()
    expect(page.locator(".flash")).to_contain_text("Backfill 1 paused.")
    expect(card.locator(".badge")).to_have_text("Paused")
    screenshots.shoot(card, "control-panel-backfill.png")

    httpx.put(f"{comm100}/faults", json={"latency_ms": 0}, timeout=10).raise_for_status()
    card.get_by_role("button", name="Resume backfill 1").click()
    expect(page.locator(".flash")).to_contain_text("Backfill 1 resumed.")
    # The page's script follows it to its end, without a reload, and says so.
    expect(card.locator("progress")).to_have_count(0, timeout=60_000)
    expect(page.locator("#announcer")).to_contain_text("The backfill is over")

    page.reload()
    earlier = card.locator("details.backfill-recent")
    earlier.locator("summary").click()
    expect(earlier).to_contain_text("Done")
    expect(earlier).to_contain_text("4 done, 1 skipped, 0 failed of 5")
    expect(page.locator("tr[id^='record-']")).to_have_count(4)
    expect(page.locator("tr[id^='record-']", has_text="(backfill)")).to_have_count(4)
    with httpx.Client(
        base_url=f"{demo.url}/api/v1", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as api:
        [backfill] = api.get(f"/sites/{DEMO_SITE}/backfills").json()["items"]
        records = api.get(f"/sites/{DEMO_SITE}/syncs", params={"limit": 50}).json()["items"]
    assert backfill["total"] == backfill["done"] + backfill["skipped"] + backfill["failed"] == 5
    conversations = [
        (r["comm100_ids"].get("chat_id"), r["comm100_ids"].get("offline_message_id"))
        for r in records
    ]
    assert len(set(conversations)) == len(records) == 4  # one sync record per conversation
    assert errors == []
