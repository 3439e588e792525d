"""The *Webhooks in Comm100* card of a site's page (SPEC 5.2, 5.6): each needed Live Chat webhook's
state read from Comm100, *Register in Comm100* (a form with its CSRF token), the ticket trigger's
steps by hand, and connecting Comm100 registering them by itself. The service runs in-process;
the Comm100 sandbox runs as its own process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.comm100.conftest import SANDBOX_KEY as COMM100_KEY
from tests.comm100.conftest import Sandbox as Comm100Sandbox
from tests.comm100.conftest import start_sandbox
from tests.web.conftest import Service
from tests.web.ui_client import Element, flash, page, post_form, sign_in, unlabelled_controls

SITE = 10000
PAGE = f"/ui/sites/{SITE}"
REGISTER = f"{PAGE}/comm100/webhooks"
THEIRS = "https://crm.example/hooks?key=theirs-0123456789"


@pytest.fixture(scope="module")
def comm100_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Comm100Sandbox]:
    yield from start_sandbox(tmp_path_factory.mktemp("comm100") / "sandbox.log")


@pytest.fixture
def comm100(comm100_process: Comm100Sandbox) -> Comm100Sandbox:
    comm100_process.control("POST", "reset")
    return comm100_process


@pytest.fixture
def signed_in(service: Service) -> Service:
    created = service.client.post(
        "/api/v1/sites", json={"site_id": SITE, "name": "Acme"}, headers=service.admin()
    )
    assert created.status_code == 201, created.text
    sign_in(service.client)
    return service


@pytest.fixture
def connected(signed_in: Service, comm100: Comm100Sandbox) -> Service:
    """Connected through the API, which registers nothing by itself."""
    saved = signed_in.client.put(
        f"/api/v1/sites/{SITE}/settings",
        json={
            "comm100": {
                "api_base_url": comm100.api_base_url,
                "agent_email": "agent@example.com",
                "api_key": COMM100_KEY,
            }
        },
        headers=signed_in.admin(),
    )
    assert saved.status_code == 200, saved.text
    return signed_in


def card(service: Service) -> Element:
    return page(service.client.get(PAGE)).by_id("comm100-webhooks")


def states(found: Element) -> dict[str, str]:
    return {
        item.attrs["id"].removeprefix("webhook-"): item.attrs["data-state"]
        for item in found.find_all("li", class_="webhook-item")
    }


def register_button(found: Element) -> Element:
    [button] = [b for b in found.find_all("button") if b.text() == "Register in Comm100"]
    return button


def our_url(service: Service) -> str:
    urls = service.client.get(f"/api/v1/sites/{SITE}/webhooks", headers=service.admin()).json()
    url: str = urls["livechat"]
    return url


def test_the_card_shows_each_needed_webhooks_state_read_from_comm100(
    connected: Service, comm100: Comm100Sandbox
) -> None:
    comm100.control("PUT", "webhooks", [{"siteId": SITE, "event": "chatEnds", "targetUrl": THEIRS}])

    found = card(connected)

    assert states(found) == {"chatEnds": "elsewhere", "offlineMessageIsSubmitted": "missing"}
    text = found.text()
    assert "Live Chat: Chat Ended Elsewhere" in text
    assert "Live Chat: Offline Message Submitted Missing" in text
    assert "https://crm.example" in text
    assert "theirs-0123456789" not in text
    assert "disabled" not in register_button(found).attrs
    assert register_button(found).attrs["data-busy-label"]
    assert "data-busy" in found.find_all("form")[0].attrs
    assert unlabelled_controls(found) == []


def test_the_ticket_triggers_steps_are_shown_to_take_by_hand(signed_in: Service) -> None:
    steps = [item.text() for item in card(signed_in).by_id("ticket-trigger-steps").find_all("li")]

    assert len(steps) == 4
    assert '"When a ticket is created"' in steps[1]
    assert "method POST" in steps[2]
    assert "enabled" in steps[3]


def test_without_a_comm100_connection_the_button_waits_for_one(
    signed_in: Service, comm100: Comm100Sandbox
) -> None:
    found = card(signed_in)

    assert states(found) == {}
    assert "Connect the Comm100 site above first" in found.by_id("comm100-webhooks-problem").text()
    assert "disabled" in register_button(found).attrs
    assert comm100.requests() == []


def test_registering_shows_both_registered_and_says_what_it_did(
    connected: Service, comm100: Comm100Sandbox
) -> None:
    response = post_form(connected.client, REGISTER, {}, from_page=PAGE)

    assert response.status_code == 303
    assert response.headers["location"] == f"{PAGE}#comm100-webhooks"
    shown = page(connected.client.get(PAGE))
    assert states(shown.by_id("comm100-webhooks")) == {
        "chatEnds": "registered",
        "offlineMessageIsSubmitted": "registered",
    }
    assert flash(shown) == (
        "Registered in Comm100. Chat Ended: registered. Offline Message Submitted: registered."
    )
    assert {w["targetUrl"] for w in comm100.control("GET", "webhooks")} == {our_url(connected)}

    again = post_form(connected.client, REGISTER, {}, from_page=PAGE)
    assert again.status_code == 303
    assert "nothing to change" in flash(page(connected.client.get(PAGE)))
    assert len(comm100.control("GET", "webhooks")) == 2


def test_other_integrations_webhooks_are_replaced_only_when_ticked(
    connected: Service, comm100: Comm100Sandbox
) -> None:
    comm100.control("PUT", "webhooks", [{"siteId": SITE, "event": "chatEnds", "targetUrl": THEIRS}])

    post_form(connected.client, REGISTER, {}, from_page=PAGE)
    assert THEIRS in {w["targetUrl"] for w in comm100.control("GET", "webhooks")}
    post_form(connected.client, REGISTER, {"replace_elsewhere": "on"}, from_page=PAGE)

    assert {w["targetUrl"] for w in comm100.control("GET", "webhooks")} == {our_url(connected)}
    assert len(comm100.control("GET", "webhooks")) == 2


def test_without_manage_integration_the_card_says_so_in_plain_words(
    connected: Service, comm100: Comm100Sandbox
) -> None:
    comm100.control("PUT", "behaviour", {"manage_integration": False})

    shown = card(connected)
    assert "lacks the Manage Integration permission" in shown.text()
    response = post_form(connected.client, REGISTER, {}, from_page=PAGE)

    assert response.status_code == 403
    result = page(response).by_id("comm100-webhooks").find_all("div", role="alert")
    assert len(result) == 1
    assert "Not registered." in result[0].text()
    assert "lacks the Manage Integration permission" in result[0].text()
    assert comm100.control("GET", "webhooks") == []


def test_a_failing_comm100_leaves_the_page_working(
    connected: Service, comm100: Comm100Sandbox
) -> None:
    comm100.control("PUT", "faults", {"error_rate": 1.0})

    response = connected.client.get(PAGE, params={"refresh": "true"})

    assert response.status_code == 200
    problem = page(response).by_id("comm100-webhooks-problem").text()
    assert "can't be read while Comm100 can't be" in problem
    registered = post_form(connected.client, REGISTER, {}, from_page=PAGE)
    assert registered.status_code == 502
    assert "Not registered." in page(registered).by_id("comm100-webhooks").text()


def test_the_form_needs_its_csrf_token(connected: Service, comm100: Comm100Sandbox) -> None:
    response = connected.client.post(REGISTER, data={"csrf_token": "stale"}, follow_redirects=False)

    assert response.status_code == 403
    assert comm100.control("GET", "webhooks") == []


def test_connecting_comm100_registers_the_webhooks_by_itself(
    signed_in: Service, comm100: Comm100Sandbox
) -> None:
    response = post_form(
        signed_in.client,
        f"{PAGE}/comm100",
        {
            "api_base_url": comm100.api_base_url,
            "agent_email": "agent@example.com",
            "api_key": COMM100_KEY,
        },
        from_page=PAGE,
    )

    assert response.status_code == 303
    shown = page(signed_in.client.get(PAGE))
    assert "Its Live Chat webhooks are registered in Comm100." in flash(shown)
    assert set(states(shown.by_id("comm100-webhooks")).values()) == {"registered"}
    assert [w["event"] for w in comm100.control("GET", "webhooks")] == [
        "chatEnds",
        "offlineMessageIsSubmitted",
    ]


def test_connecting_comm100_is_kept_when_the_webhooks_can_not_be_registered(
    signed_in: Service, comm100: Comm100Sandbox
) -> None:
    comm100.control("PUT", "behaviour", {"manage_integration": False})

    response = post_form(
        signed_in.client,
        f"{PAGE}/comm100",
        {
            "api_base_url": comm100.api_base_url,
            "agent_email": "agent@example.com",
            "api_key": COMM100_KEY,
        },
        from_page=PAGE,
    )

    assert response.status_code == 303
    shown = page(signed_in.client.get(PAGE))
    said = flash(shown)
    assert "Comm100 site connected" in said
    assert "Its Live Chat webhooks were not registered" in said
    assert "Manage Integration permission" in said
    assert "flash-info" in shown.find_all("div", role="status")[0].attrs["class"]
    stored = signed_in.client.get(f"/api/v1/sites/{SITE}/settings", headers=signed_in.admin())
    assert stored.json()["comm100"]["api_base_url"] == comm100.api_base_url


def test_the_site_page_never_reads_comm100_for_another_site(
    connected: Service, comm100: Comm100Sandbox
) -> None:
    """What is registered for one site is not shown on another's page (the sandbox keeps
    webhooks per site, as Comm100 does)."""
    comm100.control(
        "PUT",
        "webhooks",
        [{"siteId": SITE + 1, "event": "chatEnds", "targetUrl": our_url(connected)}],
    )

    assert states(card(connected)) == {
        "chatEnds": "missing",
        "offlineMessageIsSubmitted": "missing",
    }
