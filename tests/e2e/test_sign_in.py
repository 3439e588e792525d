"""Comm100 sign-in in a real browser, against `optibridge demo` as a process: the demo's site has
sign-in set up with an OAuth client registered in the Comm100 sandbox, whose OAuth emulation
signs agents in (reference/comm100.md, "Who is calling")."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from optibridge.sandbox.comm100.identity import DEFAULT_ADMIN_EMAIL, DEFAULT_AGENT_EMAIL
from optibridge.sandbox.comm100.simulation import DEFAULT_AGENT_ID
from tests.support.processes import free_port, optibridge_command, running_process

pytestmark = pytest.mark.integration

SITE = 10000


@dataclass
class Demo:
    url: str
    admin_token: str

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data_dir = tmp_path_factory.mktemp("sign-in-demo")
    port = free_port()
    log = data_dir / "demo.log"
    argv = optibridge_command("demo", "--port", str(port), "--data-dir", str(data_dir))
    url = f"http://127.0.0.1:{port}"
    with running_process(argv, ready_url=f"{url}/healthz", log_path=log):
        yield Demo(url, _admin_token(log))


def _admin_token(log: Path) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = re.search(r"Admin token:\s+(\S+)", log.read_text())
        if match:
            return match.group(1)
        time.sleep(0.1)
    raise AssertionError(f"the demo printed no admin token:\n{log.read_text()}")


def sign_in_at_comm100(page: Page, email: str) -> None:
    """On the sandbox's Comm100 sign-in page: choose the agent with `email`."""
    expect(page.get_by_role("heading", name=f"Sign in to site {SITE}")).to_be_visible()
    page.locator("li", has_text=email).get_by_role("button").click()


def test_an_agent_opening_the_tab_is_signed_in_by_comm100_and_named_in_the_sync_log(
    page: Page, demo: Demo
) -> None:
    page.goto(f"{demo.url}/console/{SITE}/livechat")  # no token: sign-in is set up

    sign_in_at_comm100(page, DEFAULT_AGENT_EMAIL)

    page.wait_for_url(re.compile(rf"/console/{SITE}/livechat"))
    expect(page).not_to_have_url(re.compile("ob_session"))  # taken out of the address
    session = page.evaluate(f"window.sessionStorage.getItem('optibridge.session.{SITE}')")
    assert isinstance(session, str)
    assert session.startswith("obs_")
    # The session works for the console API, and names the agent Comm100 signed in.
    with httpx.Client(base_url=demo.url, timeout=10) as api:
        looked = api.post(
            f"/api/v1/sites/{SITE}/console/lookup",
            json={"channel": "livechat", "context": {"chat_id": "c-1", "visitor": {"id": "v-1"}}},
            headers={"Authorization": f"Bearer {session}"},
        )
        assert looked.status_code == 200, looked.text
        record = api.get(
            f"/api/v1/sites/{SITE}/syncs/{looked.json()['record_id']}", headers=demo.admin()
        ).json()
    assert record["agent"] == {
        "agent_id": DEFAULT_AGENT_ID,
        "email": DEFAULT_AGENT_EMAIL,
        "verified": True,
    }


def test_a_comm100_admin_signs_in_to_the_control_panel_and_sees_the_site(
    page: Page, demo: Demo
) -> None:
    page.goto(f"{demo.url}/ui/login")
    page.get_by_label("Site id").fill(str(SITE))
    page.get_by_role("button", name="Sign in with Comm100").click()
    page.locator("#comm100-continue").click()

    sign_in_at_comm100(page, DEFAULT_ADMIN_EMAIL)

    page.wait_for_url(re.compile(rf"/ui/sites/{SITE}"))
    expect(page.locator(".flash")).to_contain_text(
        f"Signed in with Comm100 as {DEFAULT_ADMIN_EMAIL}"
    )


def test_an_agent_who_is_not_an_admin_is_refused_the_control_panel(page: Page, demo: Demo) -> None:
    page.goto(f"{demo.url}/ui/login?site_id={SITE}")
    page.locator("#comm100-continue").click()

    sign_in_at_comm100(page, DEFAULT_AGENT_EMAIL)

    page.wait_for_url(re.compile(r"/ui/login"))
    expect(page.locator(".flash")).to_contain_text("not an administrator")
