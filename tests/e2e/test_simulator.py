"""The Comm100 simulator in a real browser, against `optibridge demo` running as a process.

A person plays the visitor and the agent; the webhooks must land in the service's sync log. The
Optimove tab is replaced by a stand-in page at the tab's own address (Playwright answers the
iframe's request) that speaks Comm100's App SDK protocol as a widget does: it asks for the
documented names (and one that exists nowhere), subscribes to the selection event and shows what
the simulated console answered, so these tests check the host's side of the protocol whatever
the real tab does.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.support.processes import free_port, optibridge_command, running_process

pytestmark = pytest.mark.integration

SITE = 10000
STAND_IN_TAB = """<!doctype html>
<html lang="en"><head><title>Stand-in Optimove tab</title></head>
<body><p id="context">no context yet</p><script>
var seen = {answers: {}, events: [], raw: []};
function post(message) { window.parent.postMessage(JSON.stringify(message), "*"); }
function ask(api) {
  post({action: "get", api: api, timestamp: Date.now(), uuid: "stand-in",
        eventTrace: api + "_" + Math.random().toString(16).slice(2)});
}
function askAll() {
  ["agentconsole.currentChat", "agentconsole.currentChat.visitor",
   "agentconsole.ticketing.currentTicket", "agentconsole.currentAgent",
   "agentconsole.chat.currentChat"].forEach(ask);
}
window.addEventListener("message", function (event) {
  if (event.source !== window.parent || typeof event.data !== "string") return;
  var data = JSON.parse(event.data);
  seen.raw.push(data);
  if (data.isBroadcast) { seen.events.push(data.api); askAll(); }
  else { seen.answers[data.api] = data; }
  document.getElementById("context").textContent = JSON.stringify(seen);
});
var selected = "agentconsole.currentChat.selectChange";
post({action: "on", api: selected, alive: true, timestamp: Date.now(), eventTrace: selected,
      uuid: "stand-in"});
askAll();
</script></body></html>"""


@dataclass
class Demo:
    url: str
    admin_token: str
    log: Path

    @property
    def simulator(self) -> str:
        return f"{self.url}/sandbox/comm100/simulator"

    def sync_record(self, record_id: int, timeout_s: float = 20.0) -> dict[str, Any]:
        """The record once decided (outcome neither null nor pending)."""
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        url = f"{self.url}/api/v1/sites/{SITE}/syncs/{record_id}"
        deadline = time.monotonic() + timeout_s
        with httpx.Client(headers=headers, timeout=10) as api:
            while True:
                response = api.get(url)
                response.raise_for_status()
                record: dict[str, Any] = response.json()
                if record["outcome"] not in (None, "pending") or time.monotonic() > deadline:
                    return record
                time.sleep(0.2)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data_dir = tmp_path_factory.mktemp("simulator-demo")
    port = free_port()
    log = data_dir / "demo.log"
    argv = optibridge_command("demo", "--port", str(port), "--data-dir", str(data_dir))
    url = f"http://127.0.0.1:{port}"
    with running_process(argv, ready_url=f"{url}/healthz", log_path=log):
        yield Demo(url, _printed(log, r"Admin token:\s+(\S+)"), log)


def _printed(log: Path, pattern: str) -> str:
    """A value of the demo's banner (printed once the demo has seeded the sandboxes)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = re.search(pattern, log.read_text())
        if match:
            return match.group(1)
        time.sleep(0.1)
    raise AssertionError(f"the demo did not print {pattern!r}:\n{log.read_text()}")


@pytest.fixture
def agent_page(page: Page, demo: Demo) -> Page:
    """The browser, with the Optimove tab's address answered by the stand-in tab."""

    def stand_in(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body=STAND_IN_TAB)

    page.route(re.compile(rf"/console/{SITE}/(livechat|ticketing)\?"), stand_in)
    return page


def record_id_in(text: str) -> int:
    match = re.search(r"sync record #(\d+)", text)
    assert match, text
    return int(match.group(1))


def console_answers(page: Page, api: str) -> dict[str, Any]:
    """The simulated console's answer to the stand-in tab's `get` of `api` (the whole message,
    as the SDK receives it)."""
    shown = page.frame_locator("#optimove-tab").locator("#context")
    expect(shown).to_contain_text(api)
    seen: dict[str, Any] = json.loads(shown.inner_text())
    answer: dict[str, Any] = seen["answers"][api]
    return answer


def test_the_demo_banner_says_where_the_simulator_starts(demo: Demo) -> None:
    banner = _printed(demo.log, r"Agent console simulator:\s+(\S+)")
    assert banner == f"{demo.simulator}/"


def test_a_visitor_chat_is_answered_with_the_tab_and_its_end_lands_in_the_sync_log(
    agent_page: Page, demo: Demo
) -> None:
    page = agent_page
    page.goto(f"{demo.simulator}/")
    page.get_by_role("link", name="visitor page").click()
    page.get_by_role("link", name=re.compile(r"^Grace Hopper, C1002")).click()
    expect(page.get_by_label("Email (required)").first).to_have_value("grace@example.com")
    page.get_by_label("Your first message").fill("Has my parcel left?")
    page.get_by_role("button", name="Start chat").click()
    expect(page.get_by_role("status").first).to_contain_text("Sent chat_started: 202")

    page.get_by_role("link", name="Open this chat in the agent console").click()
    tab = page.get_by_title("Optimove tab")
    src = tab.get_attribute("src") or ""
    assert src.startswith(f"{demo.url}/console/{SITE}/livechat?siteId={SITE}&agentId=")
    assert re.search(r"[?&]token=obg_", src)
    chat = console_answers(page, "agentconsole.currentChat")
    chat_id = page.url.rsplit("/", 1)[1]
    # The SDK's answer: the request echoed, with data, errorCode 0 and an empty message.
    assert (chat["action"], chat["uuid"], chat["errorCode"], chat["message"]) == (
        "get",
        "stand-in",
        0,
        "",
    )
    assert chat["eventTrace"].startswith("agentconsole.currentChat_")
    assert chat["data"]["id"] == chat_id
    visitor = console_answers(page, "agentconsole.currentChat.visitor")["data"]
    assert {"name": "customer_id", "value": "C1002"} in visitor["customVariables"]
    seen = json.loads(page.frame_locator("#optimove-tab").locator("#context").inner_text())
    assert "agentconsole.chat.currentChat" not in seen["answers"]  # undocumented: never answered
    expect(page.locator("#tab-status")).to_contain_text("does not have")
    assert "obg_" not in page.locator("body").inner_text()

    page.get_by_label("Reply").fill("It left this morning.")
    page.get_by_role("button", name="Send").click()
    page.get_by_role("button", name="End chat").click()
    announcement = page.locator("p.announce")
    expect(announcement).to_contain_text("Sent chat_ended: 202, sync record #")
    record = demo.sync_record(record_id_in(announcement.inner_text()))
    assert record["event"] == "chat_ended"
    assert record["customer_id"] == "C1002"
    assert record["outcome"] == "updated"
    assert {c["field"] for c in record["changes"]} == {"PHONE", "VIP_LEVEL"}


def test_a_ticket_from_a_new_visitor_needs_a_contact_until_converted(
    agent_page: Page, demo: Demo
) -> None:
    page = agent_page
    page.goto(f"{demo.simulator}/agent")
    page.get_by_label("A visitor", exact=True).check()
    page.get_by_label("Visitor", exact=True).select_option(label="A new visitor")
    page.get_by_label("Subject").fill("Where is my refund?")
    page.get_by_role("button", name="Create ticket").click()
    announcement = page.locator("p.announce")
    expect(announcement).to_contain_text("Sent ticket_created: 202, sync record #")
    src = page.get_by_title("Optimove tab").get_attribute("src") or ""
    assert src.startswith(f"{demo.url}/console/{SITE}/ticketing?siteId={SITE}&")
    ticket = console_answers(page, "agentconsole.ticketing.currentTicket")["data"]
    assert ticket["relatedType"] == "visitor"
    ticket_id = int(page.url.split("?")[0].rsplit("/", 1)[1])
    assert ticket["id"] == ticket_id
    record = demo.sync_record(record_id_in(announcement.inner_text()))
    assert record["outcome"] == "needs_contact"

    page.get_by_role("button", name="Convert the visitor into a contact").click()
    expect(page.locator("p.announce")).to_contain_text("is now the contact")
    expect(page.frame_locator("#optimove-tab").locator("#context")).to_contain_text(
        '"relatedType":"contact"'
    )


def test_the_real_optimove_tab_shows_the_customer_of_the_chat(page: Page, demo: Demo) -> None:
    page.goto(f"{demo.simulator}/visitor")
    page.get_by_role("link", name=re.compile(r"^Ada Lovelace, returning customer C1001")).click()
    page.get_by_role("button", name="Start chat").click()
    page.get_by_role("link", name="Open this chat in the agent console").click()
    expect(page.frame_locator("#optimove-tab").locator("body")).to_contain_text("C1001")
    expect(page.locator("#tab-status")).to_contain_text("The tab asked for agentconsole.")


def test_the_real_tab_follows_the_agent_to_another_chat_in_the_same_frame(
    page: Page, demo: Demo
) -> None:
    """Both directions of the protocol: the tab asks, the console answers; the agent selects
    another chat, the console tells the tab (`selectChange`) and the tab shows its customer,
    without being loaded again."""
    for link in (r"^Grace Hopper, C1002", r"^Ada Lovelace, returning customer C1001"):
        page.goto(f"{demo.simulator}/visitor")
        page.get_by_role("link", name=re.compile(link)).click()
        page.get_by_role("button", name="Start chat").click()
    page.get_by_role("link", name="Open this chat in the agent console").click()
    tab = page.frame_locator("#optimove-tab")
    expect(tab.locator("#customer-id")).to_have_text("C1001")
    frame = page.frame(url=re.compile(r"/console/\d+/livechat"))
    assert frame is not None
    frame.evaluate("window.stillTheSameFrame = true")

    page.get_by_role("navigation", name="Chats").get_by_role(
        "link", name="Grace Hopper"
    ).first.click()
    # Only the console's `selectChange` makes the tab read the chat again.
    expect(tab.locator("#customer-id")).to_have_text("C1002")
    assert frame.evaluate("window.stillTheSameFrame") is True


def test_an_offline_message_is_accepted_by_the_service(page: Page, demo: Demo) -> None:
    page.goto(f"{demo.simulator}/visitor")
    offline = page.get_by_role("region", name="Leave an offline message")
    offline.get_by_label("Name (required)").fill("Barbara Liskov")
    offline.get_by_label("Email (required)").fill("barbara@example.com")
    offline.get_by_label("Subject (required)").fill("Opening hours")
    offline.get_by_label("Content (required)").fill("When do you open?")
    offline.get_by_label("customer_id").fill("C3001")
    offline.get_by_role("button", name="Send offline message").click()
    announcement = page.locator("p.announce")
    expect(announcement).to_contain_text("Sent offline_message_submitted: 202, sync record #")
    record = demo.sync_record(record_id_in(announcement.inner_text()))
    assert record["event"] == "offline_message_submitted"
    assert (record["customer_id"], record["outcome"]) == ("C3001", "created")  # auto_create
