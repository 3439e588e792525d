"""Restoring a change from the sync log over real HTTP (SPEC 4.7): events and agents change a
customer in the Optimove sandbox through the service; a restore writes the old values back as a
record of its own, confirmed by Optimove's callback, or is refused with the reason."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from optibridge.sandbox.comm100.payloads import OfflineMessage, Visitor, offline_message_submitted
from tests.sync.stack import Stack, chat_end_for, default_settings, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("restore")) as running:
        yield running


def livechat(update: str, no_match: str = "never") -> dict[str, Any]:
    section: dict[str, Any] = default_settings("", "")["livechat"]
    section["on_chat_end"] = {"update": update, "no_match": no_match}
    section["on_offline_message"] = {"update": update, "no_match": "auto_create"}
    return section


def restore(stack: Stack, site_id: int, record_id: int) -> httpx.Response:
    return stack.admin.post(f"/sites/{site_id}/syncs/{record_id}/restore")


def restored(stack: Stack, site_id: int, record_id: int) -> dict[str, Any]:
    """Restore `record_id`, expect 202, and wait until Optimove confirmed the restore."""
    response = restore(stack, site_id, record_id)
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    stack.settled(answer["id"])
    item: dict[str, Any] = stack.admin.get(f"/sites/{site_id}/syncs/{answer['id']}").json()
    return item


def test_a_restored_update_puts_the_old_value_back_in_optimove(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat("overwrite"))
    customer = stack.seed_customer(EMAIL="old@example.com", PHONE="+1 555")
    update = stack.accept(site.livechat_url, chat_end_for(customer, "new@example.com"))
    assert (update.outcome, (stack.customer(customer) or {})["EMAIL"]) == (
        "updated",
        "new@example.com",
    )
    since = time.time()

    response = restore(stack, site.site_id, update.id)

    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["event"], answer["restores"], answer["customer_id"]) == (
        "restore",
        update.id,
        customer,
    )
    assert answer["changes"] == [
        {"field": "EMAIL", "old": "new@example.com", "new": "old@example.com"}
    ]
    assert (
        answer["comm100_ids"]["restored_by"]
        == "the deployment's admin token (OPTIBRIDGE_ADMIN_TOKEN)"
    )
    assert answer["comm100_ids"]["restored_via"] == "api"
    record = stack.settled(answer["id"])
    assert (record.state, record.outcome) == ("done", "updated")
    assert "confirmed by Optimove" in (record.reason or "")
    assert (stack.customer(customer) or {})["EMAIL"] == "old@example.com"
    [write] = stack.optimove_writes(since)
    assert write["path"].endswith("Customers/UpdateCustomerAttributes")
    detail = stack.admin.get(f"/sites/{site.site_id}/syncs/{answer['id']}").json()
    assert [call["confirmed"] for call in detail["calls"] if call["request_id"]] == [True]


def test_a_field_changed_since_refuses_the_restore_naming_it_and_its_value(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat("overwrite"))
    customer = stack.seed_customer(EMAIL="old@example.com")
    update = stack.accept(site.livechat_url, chat_end_for(customer, "new@example.com"))
    stack.optimove.put(
        f"/_sandbox/customers/{customer}", json={"EMAIL": "changed-in-optimove@example.com"}
    )
    since = time.time()

    response = restore(stack, site.site_id, update.id)

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "restore_changed_since"
    assert "EMAIL" in error["message"]
    assert "changed-in-optimove@example.com" in error["message"]
    assert [detail["pointer"] for detail in error["details"]] == ["/changes/0"]
    assert stack.optimove_writes(since) == []
    assert (stack.customer(customer) or {})["EMAIL"] == "changed-in-optimove@example.com"
    attempt = stack.records(site.site_id)[-1]
    assert (attempt.event, attempt.state, attempt.outcome) == ("restore", "done", "unchanged")
    assert "refused" in (attempt.reason or "")


def test_a_later_event_that_changed_the_field_refuses_the_restore(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat("overwrite"))
    customer = stack.seed_customer(EMAIL="first@example.com")
    earlier = stack.accept(site.livechat_url, chat_end_for(customer, "second@example.com"))
    stack.accept(site.livechat_url, chat_end_for(customer, "third@example.com"))

    response = restore(stack, site.site_id, earlier.id)

    assert response.status_code == 409
    assert "third@example.com" in response.json()["error"]["message"]


def test_a_field_filled_from_empty_is_emptied_again(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat("fill_empty"))
    customer = stack.seed_customer(EMAIL="")
    filled = stack.accept(site.livechat_url, chat_end_for(customer, "filled@example.com"))
    assert filled.changes == [{"field": "EMAIL", "old": "", "new": "filled@example.com"}]

    item = restored(stack, site.site_id, filled.id)

    assert item["outcome"] == "updated"
    assert item["changes"] == [{"field": "EMAIL", "old": "filled@example.com", "new": None}]
    assert (stack.customer(customer) or {}).get("EMAIL") in (None, "")


def test_a_restore_can_itself_be_restored(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat("overwrite"))
    customer = stack.seed_customer(EMAIL="a@example.com")
    update = stack.accept(site.livechat_url, chat_end_for(customer, "b@example.com"))
    undo = restored(stack, site.site_id, update.id)

    redo = restored(stack, site.site_id, undo["id"])

    assert redo["restores"] == undo["id"]
    assert (stack.customer(customer) or {})["EMAIL"] == "b@example.com"


def test_an_agents_edit_in_the_console_is_restored(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat("none"))
    customer = stack.seed_customer(EMAIL="before@example.com")
    agent = stack.admin.post(f"/sites/{site.site_id}/tokens", json={"role": "agent"}).json()
    edited = stack.admin.post(
        f"/sites/{site.site_id}/console/edit",
        json={"channel": "livechat", "customer_id": customer, "values": {"EMAIL": "agent@x.io"}},
        headers={"Authorization": f"Bearer {agent['token']}"},
    )
    assert edited.status_code == 200, edited.text
    edit = stack.settled(edited.json()["record_id"])
    assert edit.outcome == "updated"

    item = restored(stack, site.site_id, edit.id)

    assert (item["restores"], item["outcome"]) == (edit.id, "updated")
    assert (stack.customer(customer) or {})["EMAIL"] == "before@example.com"


def test_a_creation_is_refused_because_optimove_customers_cant_be_deleted(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat("overwrite"))
    customer = f"NEW-{uuid.uuid4().hex[:8]}"
    visitor = Visitor(
        id=str(uuid.uuid4()), email="fresh@example.com", custom_variables={"customer_id": customer}
    )
    message = OfflineMessage(id=str(uuid.uuid4()), time=datetime.now(UTC))
    created = stack.accept(
        site.livechat_url, offline_message_submitted(visitor=visitor, offline_message=message)
    )
    assert created.outcome == "created"
    records_before = len(stack.records(site.site_id))

    response = restore(stack, site.site_id, created.id)

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "restore_of_creation"
    assert "can't be deleted" in error["message"]
    assert len(stack.records(site.site_id)) == records_before
    assert stack.customer(customer) is not None


def test_a_record_that_wrote_nothing_has_nothing_to_restore(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat("none"))
    customer = stack.seed_customer(EMAIL="x@example.com")
    unchanged = stack.accept(site.livechat_url, chat_end_for(customer, "y@example.com"))

    response = restore(stack, site.site_id, unchanged.id)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "nothing_to_restore"


def test_a_restore_is_not_retried_by_hand(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat("overwrite"))
    customer = stack.seed_customer(EMAIL="a@example.com")
    update = stack.accept(site.livechat_url, chat_end_for(customer, "b@example.com"))
    undo = restored(stack, site.site_id, update.id)

    response = stack.admin.post(f"/sites/{site.site_id}/syncs/{undo['id']}/retry")

    assert response.status_code == 409
    assert "restore" in response.json()["error"]["message"]


def test_another_sites_record_is_not_found(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat("overwrite"))
    other = stack.new_site(livechat=livechat("overwrite"))
    customer = stack.seed_customer(EMAIL="a@example.com")
    update = stack.accept(site.livechat_url, chat_end_for(customer, "b@example.com"))

    assert restore(stack, other.site_id, update.id).status_code == 404
    assert restore(stack, site.site_id, 987_654_321).status_code == 404
