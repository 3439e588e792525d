"""The control panel in a real browser, against `optibridge demo` running as a process.

One administrator's whole journey (SPEC 1, administrator stories 1-6): sign in, add a site,
connect Optimove with a wrong then the right key, connect Comm100, configure both channels,
save with a problem then without, paste-ready webhook URLs, read the sync log, retry a failed
record, sign out. Then the site's Live Chat webhooks registered in the Comm100 sandbox from the
site page. `make screenshots` saves each page to docs/screenshots/ (linked from the docs).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.e2e import screenshots
from tests.support.processes import free_port, optibridge_command, running_process

pytestmark = pytest.mark.integration

ADMIN_TOKEN = "e2e-admin-token-0123456789abcdef"
SITE = 20000
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}


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
        """The record once it is done or failed."""
        deadline = time.monotonic() + timeout_s
        with self.api() as api:
            while True:
                record: dict[str, Any] = api.get(f"/sites/{SITE}/syncs/{record_id}").json()
                if record["state"] in ("done", "failed") or time.monotonic() > deadline:
                    return record
                time.sleep(0.1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data_dir = tmp_path_factory.mktemp("control-panel-demo")
    port = free_port()
    log = data_dir / "demo.log"
    argv = optibridge_command("demo", "--port", str(port), "--data-dir", str(data_dir))
    env = {
        "OPTIBRIDGE_ADMIN_TOKEN": ADMIN_TOKEN,
        # A failure is final at once, so the journey can show a failed record and retry it.
        "OPTIBRIDGE_SYNC_MAX_ATTEMPTS": "1",
        "OPTIBRIDGE_OPTIMOVE_MAX_ATTEMPTS": "1",
        "OPTIBRIDGE_WORKER_POLL_S": "0.05",
    }
    url = f"http://127.0.0.1:{port}"
    with running_process(argv, ready_url=f"{url}/healthz", log_path=log, env=env):
        _wait_for_banner(log)
        # The new site exists in Comm100 too (the sandbox answers for the sites it is told).
        httpx.put(
            f"{url}/sandbox/comm100/_sandbox/sites", json=[10000, SITE], timeout=10
        ).raise_for_status()
        yield Demo(url)


def _wait_for_banner(log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if re.search(r"Admin token:\s+\S+", log.read_text()):
            return
        time.sleep(0.1)
    raise AssertionError(f"the demo did not start:\n{log.read_text()}")


@pytest.fixture
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_context_args,
        "viewport": VIEWPORT,
        "permissions": ["clipboard-read", "clipboard-write"],
    }


def shoot(page: Page, name: str) -> None:
    screenshots.shoot(page, f"control-panel-{name}.png", full_page=True)


def script_errors(page: Page) -> list[str]:
    """JavaScript errors of the pages (pages answered 4xx/5xx on purpose are not errors)."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    return errors


def chat_ended(number: int, customer_id: str) -> dict[str, Any]:
    return {
        "event": "chat_ended",
        "visitor": {
            "id": f"5b0e2f4c-2222-4a4a-9d9d-{number:012d}",
            "phone": f"+1 202 555 {number:04d}",
            "custom_variables": [{"name": "customer_id", "value": customer_id}],
        },
        "chat": {
            "id": f"9f9f0000-0000-4000-8000-{number:012d}",
            "end_time": "/Date(1764000000000)/",
        },
    }


def sign_in(page: Page, demo: Demo) -> None:
    page.goto(f"{demo.url}/ui/sites")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=/ui/sites$"))
    expect(page.get_by_label("Admin token")).to_be_focused()
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{demo.url}/ui/sites")


def add_mapping(page: Page, channel: str, optimove_field: str, comm100_field: str) -> int:
    rows = page.locator(f"#{channel}-field_mapping [data-row]")
    index = rows.count()
    page.locator(f"#{channel}-field_mapping").get_by_role(
        "button", name="Add a field mapping"
    ).click()
    optimove = page.locator(f"#f-{channel}-field_mapping-{index}-optimove_field")
    expect(optimove).to_be_focused()
    optimove.select_option(optimove_field)
    page.locator(f"#f-{channel}-field_mapping-{index}-comm100_field").select_option(comm100_field)
    return index


def test_an_administrator_connects_configures_and_follows_a_site(page: Page, demo: Demo) -> None:
    errors = script_errors(page)

    # Sign in (the keyboard is enough: the token field has focus, Enter submits).
    page.goto(f"{demo.url}/ui/login")
    shoot(page, "login")
    sign_in(page, demo)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()

    # Add the site.
    page.get_by_label("Comm100 site id").fill(str(SITE))
    page.get_by_label("Name", exact=True).fill("Acme")
    page.get_by_role("button", name="Add site").click()
    expect(page).to_have_url(f"{demo.url}/ui/sites/{SITE}")
    expect(page.locator(".flash")).to_contain_text(f"Site {SITE} is created")

    # Connect Optimove: a wrong key first, said in plain words, then the right one.
    optimove_card = page.locator("#optimove-connection")
    optimove_card.get_by_label("Base URL").fill(f"{demo.url}/sandbox/optimove")
    optimove_card.get_by_label("API key").fill("not-the-key-1234")
    optimove_card.get_by_role("button", name="Connect Optimove Account").click()
    alert = optimove_card.get_by_role("alert")
    expect(alert).to_contain_text("Optimove refused the API key")
    expect(alert).to_be_focused()
    expect(optimove_card.get_by_label("API key")).to_have_value("")
    shoot(page, "connect-error")
    optimove_card.get_by_label("API key").fill("sandbox-optimove-key")
    optimove_card.get_by_role("button", name="Connect Optimove Account").click()
    expect(page.locator(".flash")).to_contain_text("Optimove account connected")
    expect(optimove_card).to_contain_text("Connected: the account has 12 customer attributes.")
    expect(optimove_card).to_contain_text("Stored: ****-key")
    assert "sandbox-optimove-key" not in page.content()

    # Connect Comm100.
    comm100_card = page.locator("#comm100-connection")
    comm100_card.get_by_label("API base URL").fill(f"{demo.url}/sandbox/comm100/v4")
    comm100_card.get_by_label("Agent e-mail").fill("admin@example.com")
    comm100_card.get_by_label("API key").fill("sandbox-comm100-key")
    comm100_card.get_by_role("button", name="Connect Comm100 Site").click()
    expect(page.locator(".flash")).to_contain_text("Comm100 site connected")

    # Live Chat: three mappings (one reordered), a strategy, an identification rule.
    livechat = page.locator("#livechat")
    expect(livechat.locator(".channel-config")).to_be_hidden()
    livechat.get_by_label("Enable Optimove integration in Live Chat").check()
    expect(livechat.locator(".channel-config")).to_be_visible()
    add_mapping(page, "livechat", "EMAIL", "system:email")
    add_mapping(page, "livechat", "PHONE", "system:phone")
    vip = add_mapping(page, "livechat", "VIP_LEVEL", "custom_variable:vip")
    page.locator("#livechat-field_mapping").get_by_role(
        "button", name=f"Move row {vip + 1} up"
    ).click()
    expect(page.locator("#f-livechat-field_mapping-1-optimove_field")).to_have_value("VIP_LEVEL")
    page.locator("#f-livechat-field_mapping-2-show_in_console").uncheck()
    duplicate = add_mapping(page, "livechat", "EMAIL", "prechat:First Name")
    livechat.get_by_role("group", name="When a chat ends").get_by_label(
        "Only auto-update empty fields in Optimove from mapped fields"
    ).check()
    livechat.get_by_role("group", name="When a chat ends").get_by_label(
        "Auto-create a Contact in Optimove"
    ).check()
    page.locator("#livechat-identification").get_by_role("button", name="Add a rule").click()
    page.locator("#f-livechat-identification-0").select_option("custom_variable:customer_id")

    # Ticketing & Messaging: a mapping and a strategy, but no identification rule yet.
    ticketing = page.locator("#ticketing")
    ticketing.get_by_label("Enable Optimove integration in Ticketing & Messaging").check()
    add_mapping(page, "ticketing", "EMAIL", "identity:Email")
    ticketing.get_by_label("Update Contact with mapped fields").check()

    # Save with problems: every one listed, and shown beside its field; nothing saved.
    page.get_by_role("button", name="Save", exact=True).click()
    summary = page.get_by_role("alert").filter(has_text="The settings were not saved")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("EMAIL is already mapped")
    expect(summary).to_contain_text("Must have at least one rule")
    duplicate_field = page.locator(f"#f-livechat-field_mapping-{duplicate}-optimove_field")
    expect(duplicate_field).to_have_attribute("aria-invalid", "true")
    expect(
        page.locator(f"#f-livechat-field_mapping-{duplicate}-optimove_field-error")
    ).to_be_visible()
    shoot(page, "save-error")
    with demo.api() as api:
        assert api.get(f"/sites/{SITE}/settings").json()["livechat"]["enabled"] is False

    # Fix both and save.
    page.locator("#livechat-field_mapping").get_by_role(
        "button", name=f"Remove row {duplicate + 1}"
    ).click()
    expect(page.locator("#livechat-field_mapping [data-row]")).to_have_count(3)
    page.locator("#ticketing-identification").get_by_role("button", name="Add a rule").click()
    page.locator("#f-ticketing-identification-0").select_option("contact:Customer ID")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".flash")).to_have_text("Settings saved.")
    with demo.api() as api:
        saved = api.get(f"/sites/{SITE}/settings").json()
    assert [m["optimove_field"] for m in saved["livechat"]["field_mapping"]] == [
        "EMAIL",
        "VIP_LEVEL",
        "PHONE",
    ]
    assert saved["livechat"]["field_mapping"][2]["show_in_console"] is False
    assert saved["livechat"]["on_chat_end"] == {"update": "fill_empty", "no_match": "auto_create"}
    assert saved["ticketing"]["identification"] == [{"source": "contact", "name": "Customer ID"}]
    expect(page.locator("#livechat .rules-summary")).to_contain_text(
        "customer_id (custom variable)"
    )

    # The webhook URLs, ready to paste.
    livechat_url = page.locator("#webhook-livechat").input_value()
    assert livechat_url.startswith(f"{demo.url}/webhooks/comm100/{SITE}/livechat?token=")
    page.get_by_role("button", name="Copy the Live Chat URL").click()
    expect(page.get_by_role("button", name="Copied the Live Chat URL")).to_be_visible()
    shoot(page, "settings")

    # Events arrive: one is written to Optimove, one fails while Optimove is down.
    with httpx.Client(timeout=10) as http:
        first = http.post(livechat_url, json=chat_ended(1, "C1002")).json()["id"]
        assert demo.settled(first)["outcome"] == "updated"
        faults = f"{demo.url}/sandbox/optimove/_sandbox/faults"
        http.put(faults, json={"error_rate": 1.0}).raise_for_status()
        try:
            second = http.post(livechat_url, json=chat_ended(2, "C1003")).json()["id"]
            assert demo.settled(second)["state"] == "failed"
        finally:
            http.put(faults, json={"error_rate": 0.0}).raise_for_status()

    # The sync log: counts, decisions, changes, calls; retry the failed record.
    page.get_by_role("link", name="Sync log").first.click()
    expect(page).to_have_url(f"{demo.url}/ui/sites/{SITE}/syncs")
    expect(page.locator(".counts")).to_contain_text("1 Updated")
    expect(page.locator(".counts")).to_contain_text("1 Failed")
    updated = page.locator(f"#record-{first}")
    expect(updated).to_contain_text("PHONE (empty) → +1 202 555 0001")
    updated.get_by_text("Optimove calls").click()
    expect(updated).to_contain_text("POST Customers/UpdateCustomerAttributes")
    failed = page.locator(f"#record-{second}")
    expect(failed).to_contain_text("Failed")
    shoot(page, "syncs")
    failed.get_by_role("button", name=f"Retry record {second}").click()
    expect(page.locator(".flash")).to_contain_text(f"Record {second} is queued again")
    assert demo.settled(second)["outcome"] == "updated"
    page.reload()
    expect(page.locator(f"#record-{second}")).to_contain_text("PHONE (empty) → +1 202 555 0002")

    # Filters: only the failed ones (none now), then by customer.
    page.get_by_label("Outcome").select_option("failed")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator(".empty")).to_contain_text("No record matches these filters.")
    page.get_by_role("link", name="Clear filters").click()
    page.get_by_label("Optimove customer ID").fill("C1003")
    page.get_by_label("Optimove customer ID").press("Enter")
    expect(page.locator("tbody > tr[id^=record-]")).to_have_count(1)

    # The site's page draws the Optimove budget those events spent, by lane.
    page.goto(f"{demo.url}/ui/sites/{SITE}#budget")
    budget = page.locator("#budget")
    expect(budget.get_by_role("img")).to_have_accessible_name(re.compile("Optimove calls every"))
    expect(budget.locator("#chart-budget-desc")).to_contain_text("live events")
    expect(budget.locator("rect.series-lane-live").first).to_be_visible()
    screenshots.shoot(budget, "control-panel-budget.png")

    # The sites page shows the site connected; then sign out.
    page.get_by_role("link", name="Sites", exact=True).first.click()
    expect(page.locator("tr", has_text="Acme")).to_contain_text("Connected")
    shoot(page, "sites")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{demo.url}/ui/login")
    expect(page.locator(".flash")).to_contain_text("You are signed out.")
    page.goto(f"{demo.url}/ui/sites/{SITE}")
    expect(page).to_have_url(re.compile(r"/ui/login"))
    assert errors == []


def test_the_settings_form_works_without_javascript(browser: Browser, demo: Demo) -> None:
    context = browser.new_context(java_script_enabled=False, viewport=VIEWPORT)
    page = context.new_page()
    try:
        sign_in(page, demo)
        page.goto(f"{demo.url}/ui/sites/10000")
        rules = page.locator("#livechat-identification")
        expect(rules.locator("[data-row]")).to_have_count(3)  # two rules and a spare one
        expect(page.locator("#f-livechat-identification-1")).to_have_value("system:email")
        page.locator("#livechat").get_by_text("Customize Now").click()
        rules.get_by_role("button", name="Move row 2 up").click()
        expect(page).to_have_url(re.compile(r"/ui/sites/10000/settings#livechat-identification$"))
        expect(page.locator("#settings")).to_contain_text("not saved yet")
        expect(page.locator("#f-livechat-identification-0")).to_have_value("system:email")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator(".flash")).to_have_text("Settings saved.")
        with demo.api() as api:
            rules_saved = api.get("/sites/10000/settings").json()["livechat"]["identification"]
        assert rules_saved[0] == {"source": "system", "name": "email"}
    finally:
        context.close()


NOTE_THE_BUSY_BUTTON = """() => document.addEventListener("submit", (event) => {
  const button = event.target.querySelector("[data-busy-label]");
  const noted = {disabled: button.disabled, text: button.textContent,
                 busy: event.target.getAttribute("aria-busy")};
  sessionStorage.setItem("busy", JSON.stringify(noted));
})"""


def test_the_webhooks_are_registered_in_comm100_from_the_site_page(page: Page, demo: Demo) -> None:
    errors = script_errors(page)
    comm100 = f"{demo.url}/sandbox/comm100/_sandbox"
    # Comm100 without the demo site's webhooks (the demo registers them when it starts).
    httpx.put(f"{comm100}/webhooks", json=[], timeout=10).raise_for_status()
    sign_in(page, demo)
    page.goto(f"{demo.url}/ui/sites/10000")
    card = page.locator("#comm100-webhooks")
    expect(card.locator("#webhook-chatEnds")).to_contain_text("Missing")
    expect(card.locator("#webhook-offlineMessageIsSubmitted")).to_contain_text("Missing")
    expect(card.locator("#ticket-trigger-steps li")).to_have_count(4)

    # While the form is away the button says so and can't be pressed again: what it showed
    # just after the click is noted, since the page it was on is gone once the answer comes.
    page.evaluate(NOTE_THE_BUSY_BUTTON)
    card.get_by_role("button", name="Register in Comm100").click()
    expect(page.locator(".flash")).to_contain_text("Registered in Comm100.")
    noted = page.evaluate("() => JSON.parse(sessionStorage.getItem('busy'))")
    assert noted == {"disabled": True, "text": "Registering in Comm100…", "busy": "true"}

    expect(page).to_have_url(f"{demo.url}/ui/sites/10000#comm100-webhooks")
    expect(card.locator("#webhook-chatEnds")).to_contain_text("Registered")
    expect(card.locator("#webhook-offlineMessageIsSubmitted")).to_contain_text("Registered")
    expect(card.get_by_role("button", name="Register in Comm100")).to_be_enabled()
    screenshots.shoot(card, "control-panel-webhooks.png")
    registered = httpx.get(f"{comm100}/webhooks", timeout=10).json()
    assert sorted(w["event"] for w in registered) == ["chatEnds", "offlineMessageIsSubmitted"]
    assert {w["siteId"] for w in registered} == {10000}
    assert errors == []
