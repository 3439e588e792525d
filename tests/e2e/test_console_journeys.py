"""The agent's journeys through the Optimove tab, in chromium, against the real processes.

A stand-in for the Comm100 agent console (`sdk_host`, served on the service's own origin as a
console frames an app widget) answers the tab through the App SDK's protocol, documented names
only. `make screenshots` saves each state to docs/screenshots/.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import FrameLocator, Page, expect

from optibridge.sandbox.comm100.payloads import Chat, FieldAnswer, Visitor, chat_ended
from tests.e2e import screenshots, sdk_host
from tests.sync.stack import OPTIMOVE_KEY, Site, Stack, default_settings, running_stack

pytestmark = [pytest.mark.integration]

HOST_PATH = "/__test_host"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("console")) as running:
        yield running


def console_site(stack: Stack, **livechat: Any) -> tuple[Site, str]:
    """A site with a web app URL (for *Open in Optimove*), and an agent token for it."""
    sections = default_settings(str(stack.optimove.base_url), str(stack.comm100.base_url))
    optimove = {
        "base_url": str(stack.optimove.base_url),
        "api_key": OPTIMOVE_KEY,
        "web_app_url": "https://acme.optimove.net",
    }
    site = stack.new_site(optimove=optimove, livechat={**sections["livechat"], **livechat})
    issued = stack.admin.post(f"/sites/{site.site_id}/tokens", json={"role": "agent"})
    assert issued.status_code == 201, issued.text
    return site, str(issued.json()["token"])


def a_visitor(customer_id: str | None = None, **fields: Any) -> Visitor:
    variables = {"customer_id": customer_id} if customer_id else {}
    return Visitor(id=str(uuid.uuid4()), custom_variables=variables, **fields)


def chat_context(visitor: Visitor, chat_id: str) -> dict[str, Any]:
    """What the console's App SDK answers for this chat and its visitor."""
    visitor_id = str(visitor.id)
    typed = {key: getattr(visitor, key) for key in ("name", "email", "phone", "company")}
    chat = sdk_host.sdk_chat(chat_id, visitor_id, **{k: v for k, v in typed.items() if v})
    known = {"name": visitor.name, "email": visitor.email} if visitor.name else {}
    return {
        sdk_host.CHAT: chat,
        sdk_host.VISITOR: sdk_host.sdk_visitor(visitor_id, dict(visitor.custom_variables), **known),
    }


def ticket_context(ticket_id: int, related_type: str, related_id: str) -> dict[str, Any]:
    """What the console's App SDK answers for this ticket."""
    return {
        sdk_host.TICKET: {"id": ticket_id, "relatedType": related_type, "relatedId": related_id}
    }


def open_tab(
    page: Page,
    stack: Stack,
    site: Site,
    token: str,
    answers: dict[str, Any],
    channel: str = "livechat",
) -> FrameLocator:
    """The host page, with the tab in an iframe, answering the tab's SDK requests."""
    src = f"/console/{site.site_id}/{channel}?siteId={site.site_id}&agentId=7&token={token}"
    host = sdk_host.host_page(src, answers)
    page.route(
        f"{stack.service_url}{HOST_PATH}",
        lambda route: route.fulfill(body=host, content_type="text/html"),
    )
    page.goto(f"{stack.service_url}{HOST_PATH}")
    return page.frame_locator("#tab")


def shoot(page: Page, name: str) -> None:
    screenshots.shoot(page.locator("#tab"), f"console-{name}.png")


def test_a_returning_customer_is_shown_and_edited(page: Page, stack: Stack) -> None:
    site, token = console_site(stack)
    customer = stack.seed_customer(EMAIL="grace@example.com", FIRST_NAME="Grace", PHONE=None)
    tab = open_tab(page, stack, site, token, chat_context(a_visitor(customer), "chat-1"))

    expect(tab.locator("#customer-id")).to_have_text(customer, timeout=TIMEOUT_MS)
    expect(tab.locator("#fields")).to_contain_text("grace@example.com")
    expect(tab.locator("#fields dt").first).to_have_text("Email")
    link = tab.get_by_role("link", name=f"Open customer {customer} in Optimove")
    expect(link).to_have_attribute("href", f"https://acme.optimove.net/#/customer/{customer}")
    shoot(page, "customer")

    # Keyboard only: Edit opens the form on its first field, Tab moves on, Enter saves.
    tab.locator("#edit").focus()
    page.keyboard.press("Enter")
    expect(tab.get_by_label("Email")).to_be_focused()
    page.keyboard.press("Tab")
    phone = tab.get_by_label("Phone")
    expect(phone).to_be_focused()
    page.keyboard.type("+1 202 555 0199")
    shoot(page, "edit")
    page.keyboard.press("Enter")
    expect(tab.locator("#change")).to_have_text(
        "Optimove confirmed: customer changed.", timeout=TIMEOUT_MS
    )
    expect(tab.locator("#fields")).to_contain_text("+1 202 555 0199")
    assert (stack.customer(customer) or {})["PHONE"] == "+1 202 555 0199"
    shoot(page, "edit-confirmed")


def test_an_invalid_value_is_explained_beside_its_field(page: Page, stack: Stack) -> None:
    site, token = console_site(
        stack,
        field_mapping=[
            {
                "optimove_field": "DATE_OF_BIRTH",
                "comm100_field": {"source": "prechat", "name": "Birthday"},
                "show_in_console": True,
            }
        ],
    )
    customer = stack.seed_customer(DATE_OF_BIRTH="1990-03-01")
    tab = open_tab(page, stack, site, token, chat_context(a_visitor(customer), "chat-2"))
    tab.get_by_role("button", name="Edit").click(timeout=TIMEOUT_MS)
    birthday = tab.get_by_label("Date of birth")
    birthday.fill("31.02.1990")
    tab.get_by_role("button", name="Save to Optimove").click()
    expect(tab.locator("#edit-0-error")).to_contain_text("there is no such day")
    expect(birthday).to_have_attribute("aria-invalid", "true")
    expect(birthday).to_be_focused()


def test_a_new_visitor_is_created_by_the_agent_when_allowed(page: Page, stack: Stack) -> None:
    site, token = console_site(stack)
    visitor = a_visitor(email="new.visitor@example.com", custom_fields=[])
    tab = open_tab(page, stack, site, token, chat_context(visitor, "chat-3"))

    expect(tab.locator("#message")).to_have_text(
        "This chat doesn't say who the customer is: it has no customer ID. You can create the"
        " customer by entering their customer ID.",
        timeout=TIMEOUT_MS,
    )
    new_id = f"C-{uuid.uuid4().hex[:8]}"
    tab.get_by_label("Customer ID").fill(f"  {new_id} ")
    expect(tab.locator("#create-preview")).to_contain_text("new.visitor@example.com")
    shoot(page, "create")

    # Nothing is created before the agent confirms, seeing the id the customer will get.
    tab.get_by_role("button", name="Create in Optimove…").click()
    confirm = tab.get_by_role("button", name=f"Create customer {new_id}")
    expect(confirm).to_be_focused(timeout=TIMEOUT_MS)
    expect(tab.locator("#confirm-message")).to_have_text(f"Create customer {new_id} in Optimove?")
    expect(tab.locator("#confirm-preview")).to_contain_text("new.visitor@example.com")
    shoot(page, "create-confirm")
    page.keyboard.press("Escape")  # changed their mind: back to the form, nothing created
    expect(tab.locator("#create-confirm")).to_be_hidden()
    expect(tab.get_by_role("button", name="Create in Optimove…")).to_be_focused()
    assert stack.customer(new_id) is None

    tab.get_by_role("button", name="Create in Optimove…").click()
    tab.get_by_role("button", name=f"Create customer {new_id}").click()
    expect(tab.locator("#change")).to_have_text(
        "Optimove confirmed: customer created.", timeout=TIMEOUT_MS
    )
    expect(tab.locator("#customer-id")).to_have_text(new_id)  # the visitor is linked to it now
    assert stack.customer(new_id) == {"EMAIL": "new.visitor@example.com"}
    shoot(page, "created")


def test_a_customer_named_by_the_chat_is_created_after_confirming(page: Page, stack: Stack) -> None:
    site, token = console_site(stack)
    new_id = f"C-{uuid.uuid4().hex[:8]}"
    tab = open_tab(page, stack, site, token, chat_context(a_visitor(new_id), "chat-10"))
    expect(tab.locator("#message")).to_have_text(
        f"No Optimove customer has the id {new_id}. You can create customer {new_id}: you will"
        " be asked to confirm.",
        timeout=TIMEOUT_MS,
    )
    tab.get_by_role("button", name="Create in Optimove…").click()
    tab.get_by_role("button", name=f"Create customer {new_id}").click(timeout=TIMEOUT_MS)
    expect(tab.locator("#change")).to_have_text(
        "Optimove confirmed: customer created.", timeout=TIMEOUT_MS
    )
    assert stack.customer(new_id) is not None


def test_a_revoked_token_says_what_to_do(page: Page, stack: Stack) -> None:
    site, token = console_site(stack)
    customer = stack.seed_customer(EMAIL="rev@example.com")
    tab = open_tab(page, stack, site, token, chat_context(a_visitor(customer), "chat-11"))
    expect(tab.locator("#customer-id")).to_have_text(customer, timeout=TIMEOUT_MS)
    for issued in stack.admin.get(f"/sites/{site.site_id}/tokens").json():
        stack.admin.delete(f"/sites/{site.site_id}/tokens/{issued['id']}").raise_for_status()
    tab.get_by_role("button", name="Refresh").click()
    expect(tab.locator("#message")).to_contain_text(
        "revoked: ask your administrator for a new one", timeout=TIMEOUT_MS
    )
    expect(tab.locator("#message")).to_contain_text("then reopen the Optimove tab")


def test_creation_is_refused_when_the_policy_is_never(page: Page, stack: Stack) -> None:
    site, token = console_site(stack, on_chat_end={"update": "fill_empty", "no_match": "never"})
    tab = open_tab(page, stack, site, token, chat_context(a_visitor("C-nobody"), "chat-4"))
    expect(tab.locator("#message")).to_have_text(
        "No Optimove customer has the id C-nobody. Creating customers from the console is not"
        " allowed for Live Chat on this site: if this customer should be in Optimove, ask your"
        " administrator.",
        timeout=TIMEOUT_MS,
    )
    expect(tab.locator("#create-form")).to_be_hidden()
    shoot(page, "create-not-allowed")


def test_a_chat_end_updates_the_customer_by_the_strategy(page: Page, stack: Stack) -> None:
    site, token = console_site(stack)  # on_chat_end: fill_empty
    customer = stack.seed_customer(EMAIL="ada@example.com", PHONE=None, FIRST_NAME=None)
    visitor = a_visitor(
        customer,
        phone="+44 20 7946 0001",
        custom_fields=[FieldAnswer(id=1, name="First Name", value="Ada")],
    )
    tab = open_tab(page, stack, site, token, chat_context(visitor, "chat-5"))
    expect(tab.locator("#customer-id")).to_have_text(customer, timeout=TIMEOUT_MS)
    read_by_tab = time.time()

    now = datetime.now(UTC)
    body = chat_ended(visitor=visitor, chat=Chat(id="chat-5", start_time=now, end_time=now))
    record = stack.accept(site.livechat_url, body)
    assert record.outcome == "updated", record.last_error
    reads = [
        r
        for r in stack.optimove.get("/_sandbox/requests", params={"since": read_by_tab}).json()
        if r["method"] == "GET" and customer in r["path"]
    ]
    assert reads == []  # the tab's read made the chat-end decision free

    tab.get_by_role("button", name="Refresh").click()
    expect(tab.locator("#fields")).to_contain_text("+44 20 7946 0001", timeout=TIMEOUT_MS)
    expect(tab.locator("#fields")).to_contain_text("Ada")
    expect(tab.locator("#fields")).to_contain_text("ada@example.com")
    shoot(page, "after-chat-end")


def test_a_ticket_by_a_visitor_shows_the_contact_requirement(page: Page, stack: Stack) -> None:
    site, token = console_site(stack)
    context = ticket_context(90001, "visitor", str(uuid.uuid4()))
    tab = open_tab(page, stack, site, token, context, channel="ticketing")
    expect(tab.locator("#message")).to_contain_text(
        "Convert the visitor into a Comm100 contact first", timeout=TIMEOUT_MS
    )
    expect(tab.locator("#create-form")).to_be_hidden()
    shoot(page, "ticket-needs-contact")


def test_optimove_down_shows_stale_data(page: Page, stack: Stack) -> None:
    site, token = console_site(stack)
    customer = stack.seed_customer(EMAIL="alan@example.com", FIRST_NAME="Alan")
    tab = open_tab(page, stack, site, token, chat_context(a_visitor(customer), "chat-6"))
    expect(tab.locator("#customer-id")).to_have_text(customer, timeout=TIMEOUT_MS)
    stack.optimove.put("/_sandbox/faults", json={"error_rate": 1.0}).raise_for_status()
    try:
        tab.get_by_role("button", name="Refresh").click()
        notice = tab.locator("#notice")
        expect(notice).to_contain_text("Stale data.", timeout=TIMEOUT_MS)
        expect(notice).to_contain_text("Showing the last known data")
        expect(tab.locator("#fields")).to_contain_text("alan@example.com")
        expect(tab.get_by_role("button", name="Edit")).to_be_hidden()
        shoot(page, "stale")
    finally:
        stack.optimove.put("/_sandbox/faults", json={"error_rate": 0.0}).raise_for_status()


def test_the_tab_speaks_the_sdk_and_finds_a_renamed_name(page: Page, stack: Stack) -> None:
    """A console that answers only the 2022 `livechat` names: the tab asked the documented names
    too (all at once, as JSON strings in the SDK's shape), uses the one that answered, and asks
    only that one when it opens again."""
    site, token = console_site(stack)
    customer = stack.seed_customer(EMAIL="renamed@example.com")
    documented = chat_context(a_visitor(customer), "chat-7")
    renamed = {
        "agentconsole.livechat.currentChat": documented[sdk_host.CHAT],
        "agentconsole.livechat.currentChat.visitor": documented[sdk_host.VISITOR],
    }
    tab = open_tab(page, stack, site, token, renamed)
    expect(tab.locator("#customer-id")).to_have_text(customer, timeout=TIMEOUT_MS)
    asked = page.evaluate("window.consoleHost.asked")
    assert {
        "get agentconsole.currentChat",
        "get agentconsole.livechat.currentChat",
        "get agentconsole.currentChat.visitor",
        "get agentconsole.livechat.currentChat.visitor",
        f"on {sdk_host.CHAT_SELECTED}",
    } <= set(asked)

    page.reload()
    tab = page.frame_locator("#tab")
    expect(tab.locator("#customer-id")).to_have_text(customer, timeout=TIMEOUT_MS)
    again = page.evaluate("window.consoleHost.asked")
    assert "get agentconsole.livechat.currentChat" in again
    assert "get agentconsole.currentChat" not in again  # remembered: the renamed one answered


def test_the_tab_follows_the_agents_selection(page: Page, stack: Stack) -> None:
    site, token = console_site(stack)
    first, second = stack.seed_customer(EMAIL="a@example.com"), stack.seed_customer()
    tab = open_tab(page, stack, site, token, chat_context(a_visitor(first), "chat-8"))
    expect(tab.locator("#customer-id")).to_have_text(first, timeout=TIMEOUT_MS)
    selection = json.dumps(chat_context(a_visitor(second), "chat-9"))
    page.evaluate(f"window.consoleHost.select({selection}, '{sdk_host.CHAT_SELECTED}')")
    expect(tab.locator("#customer-id")).to_have_text(second, timeout=TIMEOUT_MS)
