"""The sync log's Backfill card (SPEC 4.7, 5.6): starting one from the form, its progress bar
with counts and ETA, pause, resume and cancel, and refusals said in words. In-process; no
worker runs here (tests/e2e/test_control_panel.py follows one in a browser to its end)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from optibridge.store.models import Backfill
from tests.web.conftest import Service
from tests.web.ui_client import Element, flash, page, post_form, sign_in, unlabelled_controls

SITE = 10000
LOG = f"/ui/sites/{SITE}/syncs"
SETTINGS = {
    "comm100": {
        "api_base_url": "https://api11.comm100.io/v4",
        "agent_email": "agent@example.com",
        "api_key": "sandbox-comm100-key",
    },
    "livechat": {
        "enabled": True,
        "identification": [{"source": "custom_variable", "name": "customer_id"}],
    },
}


@pytest.fixture
def signed_in(service: Service) -> Service:
    created = service.client.post(
        "/api/v1/sites", json={"site_id": SITE, "name": "Acme"}, headers=service.admin()
    )
    assert created.status_code == 201, created.text
    saved = service.client.put(
        f"/api/v1/sites/{SITE}/settings", json=SETTINGS, headers=service.admin()
    )
    assert saved.status_code == 200, saved.text
    sign_in(service.client)
    return service


def start(service: Service, **data: Any) -> Element:
    response = post_form(
        service.client,
        f"/ui/sites/{SITE}/backfills",
        {"channel": "livechat", "since": "2026-03-01T00:00", "until": "2026-03-02T00:00", **data},
        from_page=LOG,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"].endswith(f"{LOG}#backfill")
    return page(service.client.get(LOG))


def card(document: Element) -> Element:
    [found] = [e for e in document.find_all("section") if e.attrs.get("id") == "backfill"]
    return found


def test_the_card_starts_a_backfill_and_shows_its_bar(signed_in: Service) -> None:
    document = start(signed_in)

    assert "Backfill 1 of Live Chat started" in flash(document)
    shown = card(document)
    [bar] = shown.find_all("progress")
    assert (bar.attrs["max"], bar.attrs["value"]) == ("1", "0")
    assert "Queued" in shown.text()
    assert "0 done, 0 skipped, 0 failed of 0" in " ".join(shown.text().split())
    assert "data-backfill-live" in shown.attrs  # the script follows it
    buttons = [b.text() for b in shown.find_all("button")]
    assert "Pause backfill 1" in buttons
    assert "Cancel backfill 1" in buttons
    assert unlabelled_controls(document) == []


def test_the_bar_counts_and_eta_follow_the_backfill(signed_in: Service) -> None:
    start(signed_in)
    with signed_in.runtime.unit_of_work() as session:
        session.execute(
            update(Backfill).values(
                state="running",
                cursor={
                    "kind": "chat",
                    "page": 2,
                    "listed": {"chat": 50, "offline_message": 0},
                    "totals": {"chat": 200, "offline_message": None},
                },
                listed=50,
                skipped=10,
                already_synced=40,
                active_s=120.0,
            )
        )

    shown = card(page(signed_in.client.get(LOG)))

    [bar] = shown.find_all("progress")
    assert (bar.attrs["max"], bar.attrs["value"]) == ("200", "50")
    text = " ".join(shown.text().split())
    assert "25 %" in text
    assert "40 done (40 already synced), 10 skipped, 0 failed of 200" in text
    assert "about 6 minutes left" in text


def test_pause_resume_and_cancel_from_the_card(signed_in: Service) -> None:
    start(signed_in)

    def move(action: str) -> Element:
        response = post_form(
            signed_in.client, f"/ui/sites/{SITE}/backfills/1", {"action": action}, from_page=LOG
        )
        assert response.status_code == 303
        return page(signed_in.client.get(LOG))

    paused = move("pause")
    assert "Backfill 1 paused." in flash(paused)
    assert "data-backfill-live" not in card(paused).attrs
    assert "Resume backfill 1" in [b.text() for b in card(paused).find_all("button")]
    assert "Backfill 1 resumed." in flash(move("resume"))
    cancelled = move("cancel")
    assert "Backfill 1 cancelled." in flash(cancelled)
    assert card(cancelled).find_all("progress") == []
    assert "Earlier backfills (1)" in card(cancelled).text()
    again = move("cancel")
    assert "it can't be cancelled any more" in flash(again)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"channel": "ticketing"}, "Ticketing & Messaging is not enabled"),
        ({"since": "", "until": ""}, "give its period as dates and times"),
        ({"since": "2026-03-02T00:00"}, "Must be before `until`"),
        ({"until": "not a time"}, "give its period as dates and times"),
    ],
)
def test_a_start_that_cant_be_done_says_why(
    signed_in: Service, data: dict[str, str], message: str
) -> None:
    document = start(signed_in, **data)

    assert message in flash(document)
    assert card(document).find_all("progress") == []


def test_a_move_of_another_sites_backfill_is_not_found(signed_in: Service) -> None:
    start(signed_in)
    signed_in.client.post(
        "/api/v1/sites", json={"site_id": 20000, "name": "B"}, headers=signed_in.admin()
    )

    response = post_form(
        signed_in.client, "/ui/sites/20000/backfills/1", {"action": "pause"}, from_page=LOG
    )

    assert response.status_code == 404
