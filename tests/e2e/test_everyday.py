"""An administrator's everyday meetings with the control panel in a real browser (issue 16),
against `optibridge demo` as a process: a slow *Connect* shows that it is working and answers
in time, with the reason; a session that ends in another tab costs no typing; *Retry* stays in
view beside long ids."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e import screenshots
from tests.e2e.test_control_panel import (
    ADMIN_TOKEN,
    VIEWPORT,
    Demo,
    _wait_for_banner,
    script_errors,
    sign_in,
)
from tests.support.processes import free_port, optibridge_command, running_process

pytestmark = pytest.mark.integration

SITE = 10000


NOTE_EACH_SUBMIT = """() => document.addEventListener("submit", (event) => {
  const form = event.target;
  const button = form.querySelector("[data-busy-label]");
  const noted = JSON.parse(sessionStorage.getItem("submits") || "[]");
  noted.push({disabled: button.disabled, text: button.textContent,
              busy: form.getAttribute("aria-busy"), sent: !event.defaultPrevented});
  sessionStorage.setItem("submits", JSON.stringify(noted));
  if (noted.length === 1) window.setTimeout(() => form.requestSubmit(), 0);
})"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data_dir = tmp_path_factory.mktemp("everyday-demo")
    port = free_port()
    log = data_dir / "demo.log"
    argv = optibridge_command("demo", "--port", str(port), "--data-dir", str(data_dir))
    url = f"http://127.0.0.1:{port}"
    env = {
        "OPTIBRIDGE_ADMIN_TOKEN": ADMIN_TOKEN,
        # A failure is final at once, so the sync log can show a failed record.
        "OPTIBRIDGE_SYNC_MAX_ATTEMPTS": "1",
        "OPTIBRIDGE_OPTIMOVE_MAX_ATTEMPTS": "1",
        "OPTIBRIDGE_WORKER_POLL_S": "0.05",
    }
    with running_process(argv, ready_url=f"{url}/healthz", log_path=log, env=env):
        _wait_for_banner(log)
        yield Demo(url)


@pytest.fixture
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": VIEWPORT}


@pytest.fixture
def silence_optimove(demo: Demo) -> Iterator[Callable[[], None]]:
    """Makes the Optimove sandbox take every call and never answer in time; undone after."""
    faults = f"{demo.url}/sandbox/optimove/_sandbox/faults"

    def silence() -> None:
        httpx.put(faults, json={"timeout_rate": 1.0, "timeout_ms": 12_000}).raise_for_status()

    yield silence
    httpx.put(faults, json={"timeout_rate": 0.0}, timeout=10).raise_for_status()


def test_connect_says_it_is_working_and_answers_a_silent_host_in_time(
    page: Page, demo: Demo, silence_optimove: Callable[[], None]
) -> None:
    errors = script_errors(page)
    sign_in(page, demo)
    page.goto(f"{demo.url}/ui/sites/{SITE}")
    card = page.locator("#optimove-connection")
    card.get_by_label("API key").fill("sandbox-optimove-key")
    silence_optimove()

    # While the form is away the page can't be looked at (the browser waits for the answer):
    # what the button showed on submit is noted, and the form is sent again, as a second press.
    page.evaluate(NOTE_EACH_SUBMIT)
    started = time.monotonic()
    card.get_by_role("button", name="Connect Optimove Account").click()
    alert = card.get_by_role("alert")
    expect(alert).to_contain_text("Connection test failed.", timeout=15_000)
    took = time.monotonic() - started
    expect(alert).to_contain_text("did not answer in time")
    expect(alert).to_contain_text("the connection in use is still the saved one")
    expect(alert).to_be_focused()
    assert took < 12, took  # two attempts of 4 s; the page then says it without asking again
    expect(card.get_by_role("button", name="Connect Optimove Account")).to_be_enabled()
    noted = page.evaluate("() => JSON.parse(sessionStorage.getItem('submits'))")
    assert noted == [
        {"disabled": True, "text": "Connecting…", "busy": "true", "sent": True},
        {"disabled": True, "text": "Connecting…", "busy": "true", "sent": False},
    ]
    assert errors == []


def test_saving_after_signing_out_in_another_tab_comes_back_to_the_form(
    page: Page, demo: Demo
) -> None:
    errors = script_errors(page)
    sign_in(page, demo)
    page.goto(f"{demo.url}/ui/sites/{SITE}")
    page.get_by_label("Web App URL").fill("https://acme.optimove.net")
    other_tab = page.context.new_page()
    other_tab.goto(f"{demo.url}/ui/sites")
    other_tab.get_by_role("button", name="Sign out").click()
    expect(other_tab).to_have_url(f"{demo.url}/ui/login")
    other_tab.close()

    page.get_by_role("button", name="Save", exact=True).click()

    expect(page).to_have_url(f"{demo.url}/ui/login?next=/ui/sites/{SITE}%23settings")
    expect(page.locator(".flash")).to_contain_text("Your session had ended")
    expect(page.locator(".flash")).to_contain_text("filled in again")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{demo.url}/ui/sites/{SITE}#settings")
    notice = page.locator("#settings-draft")
    expect(notice).to_contain_text("Not saved yet")
    expect(notice).to_be_focused()
    expect(page.get_by_label("Web App URL")).to_have_value("https://acme.optimove.net")
    screenshots.shoot(page.locator("#settings"), "control-panel-session-ended.png")
    with demo.api() as api:
        saved = api.get(f"/sites/{SITE}/settings").json()["optimove"]["web_app_url"]
    assert saved != "https://acme.optimove.net"

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".flash")).to_have_text("Settings saved.")
    with demo.api() as api:
        saved = api.get(f"/sites/{SITE}/settings").json()["optimove"]["web_app_url"]
    assert saved == "https://acme.optimove.net"
    assert errors == []


LONG_ID = "grace.brewster.murray.hopper.rear-admiral@computing-history-department.example.edu"


def ended_chat(number: int, customer_id: str) -> dict[str, Any]:
    return {
        "event": "chat_ended",
        "visitor": {
            "id": f"5b0e2f4c-3333-4a4a-9d9d-{number:012d}",
            "custom_variables": [{"name": "customer_id", "value": customer_id}],
        },
        "chat": {
            "id": f"9f9f0000-3333-4000-8000-{number:012d}",
            "end_time": "/Date(1764000000000)/",
        },
    }


def settled(api: httpx.Client, record_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        record: dict[str, Any] = api.get(f"/sites/{SITE}/syncs/{record_id}").json()
        if record["state"] in ("done", "failed") or time.monotonic() > deadline:
            return record
        time.sleep(0.1)


def test_retry_stays_in_view_beside_long_ids_at_1400_px(browser: Browser, demo: Demo) -> None:
    with demo.api() as api, httpx.Client(timeout=10) as http:
        hook = api.get(f"/sites/{SITE}/webhooks").json()["livechat"]
        known = http.post(hook, json=ended_chat(1, "C1001")).json()["id"]  # attributes cached
        assert settled(api, known)["state"] == "done"
        faults = f"{demo.url}/sandbox/optimove/_sandbox/faults"
        http.put(faults, json={"error_rate": 1.0}).raise_for_status()
        try:
            failed = http.post(hook, json=ended_chat(2, LONG_ID)).json()["id"]
            assert settled(api, failed)["state"] == "failed"
        finally:
            http.put(faults, json={"error_rate": 0.0}).raise_for_status()
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, demo)
        page.goto(f"{demo.url}/ui/sites/{SITE}/syncs")
        page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
        row = page.locator(f"#record-{failed}")
        expect(row).to_contain_text("computing-history")
        wrap = page.locator(".table-wrap", has=page.locator(".sync-table"))
        widths = wrap.evaluate("e => [e.scrollWidth, e.clientWidth]")
        assert widths[0] <= widths[1], widths  # nothing to scroll to
        retry = row.get_by_role("button", name=f"Retry record {failed}")
        retry_box, wrap_box = retry.bounding_box(), wrap.bounding_box()
        assert retry_box is not None
        assert wrap_box is not None
        assert retry_box["x"] + retry_box["width"] <= wrap_box["x"] + wrap_box["width"]
    finally:
        context.close()


def test_the_tabs_setup_is_in_the_control_panel_with_a_filled_manifest(
    page: Page, demo: Demo
) -> None:
    """Issue 16, point 6: the sign-in set up (the demo does it), the redirect URL to register,
    and the manifest to upload, filled with this deployment's addresses and no secret."""
    sign_in(page, demo)
    page.goto(f"{demo.url}/ui/sites/{SITE}#comm100-app")
    card = page.locator("#comm100-app")
    expect(card.locator("p.status").first).to_contain_text("Set up: agents sign in")
    redirect = card.locator("#sign-in-redirect").input_value()
    assert redirect.startswith(f"{demo.url}/auth/comm100/callback")
    with page.expect_download() as download:
        card.get_by_role("link", name="Download manifest.json").click()
    manifest = json.loads(download.value.path().read_text())
    addresses = json.dumps(manifest)
    assert f"{demo.url}/console/{SITE}/" in addresses
    assert "token=" not in addresses  # the tab signs in: its addresses carry no secret
    screenshots.shoot(card, "control-panel-tab-setup.png")
