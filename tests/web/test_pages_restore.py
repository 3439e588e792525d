"""*Restore* in the sync log (SPEC 4.7, 5.6), as a browser without JavaScript drives it: a change
offers *Restore…*, which opens a confirmation page saying what will be written back; confirming
posts it with the CSRF token and comes back to the log with the outcome. The service runs
in-process, the Optimove sandbox as its own process."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from optibridge.domain.records import RESTORE
from optibridge.services import syncs as sync_service
from optibridge.services.tokens import Principal, Role
from optibridge.store.models import SyncRecord
from optibridge.sync.agents import Agent
from tests.store.test_sync_log import add_record
from tests.sync.stack import wait_until
from tests.web.conftest import Service
from tests.web.test_admin_api import SITE, connected_settings, create_site, put_settings
from tests.web.ui_client import Element, flash, page, post_form, sign_in, unlabelled_controls

LOG = f"/ui/sites/{SITE}/syncs"
EMAIL_CHANGE = [{"field": "EMAIL", "old": "old@example.com", "new": "new@example.com"}]


@pytest.fixture
def signed_in(service: Service, sandbox: httpx.Client) -> Service:
    create_site(service)
    assert put_settings(service, connected_settings(str(sandbox.base_url))).status_code == 200
    sign_in(service.client)
    return service


def seed(service: Service, **fields: Any) -> int:
    with service.runtime.unit_of_work() as session:
        return add_record(session, SITE, **fields).id


def restore_links(document: Element) -> list[str]:
    return [a.attrs["href"] for a in document.find_all("a") if a.text().startswith("Restore…")]


def confirm(service: Service, record_id: int) -> httpx.Response:
    response: httpx.Response = service.client.get(
        f"{LOG}/{record_id}/restore", params={"next": LOG}
    )
    return response


def test_only_a_change_that_can_be_undone_offers_restore(signed_in: Service) -> None:
    change = seed(signed_in, changes=EMAIL_CHANGE)
    seed(signed_in, outcome="created")
    seed(signed_in, state="failed", outcome="failed")
    seed(signed_in, outcome="unchanged", changes=[])

    links = restore_links(page(signed_in.client.get(LOG)))

    assert [link.split("?")[0] for link in links] == [f"{LOG}/{change}/restore"]


def test_the_confirmation_says_what_is_written_back_and_asks_before_doing_it(
    signed_in: Service,
) -> None:
    change = seed(signed_in, changes=EMAIL_CHANGE)

    response = confirm(signed_in, change)

    assert response.status_code == 200
    document = page(response)
    assert "EMAIL new@example.com → old@example.com" in document.text()
    [form] = [f for f in document.find_all("form") if f.attrs["action"].endswith("/restore")]
    assert form.attrs["action"] == f"{LOG}/{change}/restore"
    assert form.attrs["method"] == "post"
    assert {e.attrs.get("name") for e in form.find_all("input")} == {"csrf_token", "next"}
    cancel = [a for a in document.find_all("a") if a.text() == "Cancel"]
    assert cancel[0].attrs["href"] == LOG
    assert unlabelled_controls(document) == []


def test_a_creation_is_explained_not_offered(signed_in: Service) -> None:
    created = seed(signed_in, outcome="created")

    response = confirm(signed_in, created)

    assert response.status_code == 409
    document = page(response)
    assert "can't be deleted" in document.by_id("restore-refusal").text()
    assert [f for f in document.find_all("form") if f.attrs["action"].endswith("/restore")] == []


def test_confirming_writes_the_old_value_back_and_the_log_shows_the_restore(
    signed_in: Service, sandbox: httpx.Client
) -> None:
    sandbox.put("/_sandbox/customers/C-1", json={"EMAIL": "new@example.com"}).raise_for_status()
    change = seed(signed_in, changes=EMAIL_CHANGE)

    response = post_form(signed_in.client, f"{LOG}/{change}/restore", {"next": LOG}, from_page=LOG)

    assert response.status_code == 303
    assert response.headers["location"] == LOG
    wait_until(
        lambda: sandbox.get("/_sandbox/customers/C-1").json()["EMAIL"] == "old@example.com",
        10,
        "Optimove to apply the restore",
    )
    log = page(signed_in.client.get(LOG))
    assert f"restores record {change}" in flash(log)
    with signed_in.runtime.unit_of_work(read_only=True) as session:
        restore = session.query(SyncRecord).filter(SyncRecord.event == RESTORE).one()
    row = log.by_id(f"record-{restore.id}").text()
    assert f"of record #{change}" in row
    assert "by the deployment's admin token" in row
    assert restore.comm100_ids["restored_via"] == "control_panel"


def test_a_field_changed_since_is_named_and_nothing_is_written(
    signed_in: Service, sandbox: httpx.Client
) -> None:
    sandbox.put("/_sandbox/customers/C-1", json={"EMAIL": "later@example.com"}).raise_for_status()
    change = seed(signed_in, changes=EMAIL_CHANGE)

    response = post_form(signed_in.client, f"{LOG}/{change}/restore", {"next": LOG}, from_page=LOG)

    assert response.status_code == 303
    said = flash(page(signed_in.client.get(LOG)))
    assert f"Record {change} was not restored" in said
    assert "EMAIL" in said
    assert "later@example.com" in said
    assert sandbox.get("/_sandbox/customers/C-1").json()["EMAIL"] == "later@example.com"


def test_a_comm100_administrator_is_named_with_the_agent() -> None:
    principal = Principal(role=Role.ADMIN, site_id=SITE, token_id=None)
    agent = Agent("agent-7", "ada@example.com", verified=True)

    ids = sync_service.restorer(principal, "control_panel", agent).ids()

    assert ids["agent_id"] == "agent-7"
    assert ids["agent_email"] == "ada@example.com"
    assert ids["agent_source"] == "comm100_sign_in"
    assert "Comm100" in ids["restored_by"]
