"""*Preview* and *Restore* in a real browser, against `optibridge demo` running as a process
(SPEC 4.7, 5.6): on the demo site, an administrator changes the chat-end strategy on screen and
previews it over the chats received (nothing saved, nothing written), then undoes a chat's change
from the sync log, confirms it, and sees it refused the second time because the field changed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e import screenshots
from tests.e2e.test_control_panel import (
    ADMIN_TOKEN,
    VIEWPORT,
    _wait_for_banner,
    chat_ended,
    script_errors,
)
from tests.support.processes import free_port, optibridge_command, running_process

pytestmark = pytest.mark.integration

SITE = 10000  # the demo's site, connected to both sandboxes, with sample customers


@dataclass
class Demo:
    url: str

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=10,
        )

    def settled(self, record_id: int, timeout_s: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        with self.api() as api:
            while True:
                record: dict[str, Any] = api.get(f"/sites/{SITE}/syncs/{record_id}").json()
                if record["state"] in ("done", "failed") or time.monotonic() > deadline:
                    return record
                time.sleep(0.1)

    def customer(self, customer_id: str) -> dict[str, Any]:
        url = f"{self.url}/sandbox/optimove/_sandbox/customers/{customer_id}"
        answer: dict[str, Any] = httpx.get(url, timeout=10).json()
        return answer

    def optimove_writes(self, since: float) -> list[dict[str, Any]]:
        url = f"{self.url}/sandbox/optimove/_sandbox/requests"
        requests: list[dict[str, Any]] = httpx.get(url, params={"since": since}, timeout=10).json()
        return [r for r in requests if r["method"] in ("POST", "PUT")]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data_dir = tmp_path_factory.mktemp("preview-restore-demo")
    port = free_port()
    log = data_dir / "demo.log"
    argv = optibridge_command("demo", "--port", str(port), "--data-dir", str(data_dir))
    env = {"OPTIBRIDGE_ADMIN_TOKEN": ADMIN_TOKEN, "OPTIBRIDGE_WORKER_POLL_S": "0.05"}
    url = f"http://127.0.0.1:{port}"
    with running_process(argv, ready_url=f"{url}/healthz", log_path=log, env=env):
        _wait_for_banner(log)
        yield Demo(url)


def sign_in(page: Page, demo: Demo) -> None:
    page.goto(f"{demo.url}/ui/login")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{demo.url}/ui/sites")


@pytest.fixture
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": VIEWPORT}


def test_an_administrator_previews_settings_and_restores_a_change(page: Page, demo: Demo) -> None:
    errors = script_errors(page)
    with demo.api() as api:
        livechat_url = api.get(f"/sites/{SITE}/webhooks").json()["livechat"]
    # Two chats under the demo's fill_empty: Ada's phone is already there (unchanged), Alan's
    # is empty in Optimove and gets filled (updated).
    with httpx.Client(timeout=10) as http:
        ada = http.post(livechat_url, json=chat_ended(9, "C1001")).json()["id"]
        alan = http.post(livechat_url, json=chat_ended(3, "C1003")).json()["id"]
    assert demo.settled(ada)["outcome"] == "unchanged"
    assert demo.settled(alan)["outcome"] == "updated"
    assert demo.customer("C1003")["PHONE"] == "+1 202 555 0003"

    # Preview: overwrite instead of fill_empty, on screen only.
    sign_in(page, demo)
    page.goto(f"{demo.url}/ui/sites/{SITE}")
    chat_end = page.locator("#livechat").get_by_role("group", name="When a chat ends")
    chat_end.get_by_label("Update Contact with mapped fields").check()
    expect(page.get_by_label("Conversations to preview")).to_have_value("livechat")
    since = time.time()
    page.get_by_role("button", name="Preview", exact=True).click()

    expect(page).to_have_url(f"{demo.url}/ui/sites/{SITE}/preview#preview")
    card = page.locator("#preview")
    expect(card.get_by_role("heading", name="Preview: Live Chat")).to_be_focused()
    expect(card).to_contain_text("Nothing was saved or written")
    ada_row = card.locator(f"#preview-{ada}")
    expect(ada_row).to_contain_text("C1001")
    expect(ada_row).to_contain_text("Unchanged")  # as it arrived
    expect(ada_row).to_contain_text("Updated")  # with these settings
    expect(ada_row).to_contain_text("PHONE +44 20 7946 0001 → +1 202 555 0009")
    expect(card.locator(f"#preview-{alan}")).to_contain_text("Nothing written")
    expect(chat_end.get_by_label("Update Contact with mapped fields")).to_be_checked()
    screenshots.shoot(card, "control-panel-preview.png")
    assert demo.optimove_writes(since) == []
    assert demo.customer("C1001")["PHONE"] == "+44 20 7946 0001"
    with demo.api() as api:
        saved = api.get(f"/sites/{SITE}/settings").json()["livechat"]["on_chat_end"]
    assert saved["update"] == "fill_empty"

    # Restore Alan's chat from the sync log: a confirmation first, then the old value back.
    page.get_by_role("link", name="Sync log").first.click()
    page.get_by_role("link", name=f"Restore… record {alan}").click()
    expect(page).to_have_url(re.compile(rf"/ui/sites/{SITE}/syncs/{alan}/restore\?next="))
    expect(page.locator(".restore-changes")).to_contain_text("PHONE +1 202 555 0003 → (empty)")
    screenshots.shoot(page, "control-panel-restore.png", full_page=True)
    page.get_by_role("button", name="Restore these values").click()

    expect(page).to_have_url(f"{demo.url}/ui/sites/{SITE}/syncs")
    expect(page.locator(".flash")).to_contain_text(f"restores record {alan}")
    restore_id = int(re.findall(r"Record (\d+) restores", page.locator(".flash").inner_text())[0])
    restore = demo.settled(restore_id)
    assert (restore["event"], restore["outcome"], restore["restores"]) == (
        "restore",
        "updated",
        alan,
    )
    assert demo.customer("C1003")["PHONE"] in (None, "")
    page.reload()
    row = page.locator(f"#record-{restore_id}")
    expect(row).to_contain_text(f"of record #{alan}")
    expect(row).to_contain_text("PHONE +1 202 555 0003 → (empty)")

    # The same change again: the field no longer holds what the chat wrote, so it is refused.
    page.get_by_role("link", name=f"Restore… record {alan}").click()
    page.get_by_role("button", name="Restore these values").click()
    expect(page.get_by_role("alert")).to_contain_text(f"Record {alan} was not restored")
    expect(page.get_by_role("alert")).to_contain_text("PHONE now holds nothing (empty)")
    assert demo.customer("C1003")["PHONE"] in (None, "")
    assert errors == []
