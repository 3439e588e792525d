"""The settings preview over real HTTP (SPEC 4.7): real chats and tickets go through the service
and its worker under the saved settings; a preview of other settings shows, per conversation,
what they would do from Optimove's current data, and writes nothing."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from optibridge.sandbox.comm100.payloads import ticket_created_trigger
from tests.sync.stack import Stack, chat_end_for, default_settings, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_ticket_ids = itertools.count(810_000)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("preview")) as running:
        yield running


def livechat(update: str, no_match: str = "never", **changes: Any) -> dict[str, Any]:
    section: dict[str, Any] = default_settings("", "")["livechat"]
    section["on_chat_end"] = {"update": update, "no_match": no_match}
    section.update(changes)
    return section


def settings_with(stack: Stack, site_id: int, **sections: Any) -> dict[str, Any]:
    """The saved document (keys masked, as GET gives them) with `sections` changed."""
    document: dict[str, Any] = stack.admin.get(f"/sites/{site_id}/settings").json()
    document.update(sections)
    return document


def preview(stack: Stack, site_id: int, **body: Any) -> dict[str, Any]:
    response = stack.admin.post(f"/sites/{site_id}/preview", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_overwrite_over_chats_stored_under_none_shows_their_values_and_writes_nothing(
    stack: Stack,
) -> None:
    site = stack.new_site(livechat=livechat("none"))
    first = stack.seed_customer(EMAIL="old-1@example.com", PHONE="+1 111")
    second = stack.seed_customer(EMAIL="same@example.com", PHONE="+1 222")
    recorded = [
        stack.accept(site.livechat_url, chat_end_for(first, "new-1@example.com")),
        stack.accept(site.livechat_url, chat_end_for(second, "same@example.com")),
    ]
    assert [record.outcome for record in recorded] == ["unchanged", "unchanged"]
    since = time.time()

    answer = preview(
        stack,
        site.site_id,
        settings=settings_with(stack, site.site_id, livechat=livechat("overwrite")),
        channel="livechat",
        limit=20,
    )

    assert answer["limited_by_budget"] is False
    assert answer["found"] == 2
    newest, oldest = answer["conversations"]
    assert (newest["record_id"], oldest["record_id"]) == (recorded[1].id, recorded[0].id)
    assert (oldest["customer_id"], oldest["outcome"], oldest["recorded_outcome"]) == (
        first,
        "updated",
        "unchanged",
    )
    assert oldest["changes"] == [
        {"field": "EMAIL", "old": "old-1@example.com", "new": "new-1@example.com"}
    ]
    assert oldest["comm100_ids"]["chat_id"]
    assert (newest["outcome"], newest["changes"]) == ("unchanged", [])
    # Nothing written: no call to Optimove but reads, nothing changed, no new record.
    assert stack.optimove_writes(since) == []
    assert (stack.customer(first) or {})["EMAIL"] == "old-1@example.com"
    assert [record.id for record in stack.records(site.site_id)] == [r.id for r in recorded]
    saved = stack.admin.get(f"/sites/{site.site_id}/settings").json()
    assert saved["livechat"]["on_chat_end"]["update"] == "none"


def test_without_settings_the_saved_ones_are_previewed(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat("none"))
    customer = stack.seed_customer(EMAIL="", PHONE="")
    stack.accept(site.livechat_url, chat_end_for(customer, "other@example.com"))
    saved = stack.admin.put(
        f"/sites/{site.site_id}/settings",
        json=settings_with(stack, site.site_id, livechat=livechat("fill_empty")),
    )
    assert saved.status_code == 200, saved.text

    answer = preview(stack, site.site_id, channel="livechat")

    [conversation] = answer["conversations"]
    assert conversation["recorded_outcome"] == "unchanged"
    assert conversation["outcome"] == "updated"
    assert conversation["changes"] == [{"field": "EMAIL", "old": "", "new": "other@example.com"}]


def test_a_disabled_channel_and_an_unknown_customer_are_shown_as_they_would_end(
    stack: Stack,
) -> None:
    site = stack.new_site(livechat=livechat("overwrite"))
    absent = f"ABSENT-{uuid.uuid4().hex[:8]}"
    stack.accept(site.livechat_url, chat_end_for(absent, "who@example.com"))

    auto_create = preview(
        stack,
        site.site_id,
        settings=settings_with(
            stack, site.site_id, livechat=livechat("overwrite", no_match="auto_create")
        ),
        channel="livechat",
    )
    disabled = preview(
        stack,
        site.site_id,
        settings=settings_with(stack, site.site_id, livechat=livechat("overwrite", enabled=False)),
        channel="livechat",
    )

    [created] = auto_create["conversations"]
    assert (created["outcome"], created["recorded_outcome"]) == ("created", "no_match")
    assert created["changes"] == [{"field": "EMAIL", "old": None, "new": "who@example.com"}]
    assert stack.customer(absent) is None
    [skipped] = disabled["conversations"]
    assert skipped["outcome"] == "skipped"


def test_a_ticket_is_previewed_with_its_contact_read_from_comm100(stack: Stack) -> None:
    ticketing = default_settings("", "")["ticketing"]
    ticketing["on_ticket_created"] = {"update": "none", "no_match": "never"}
    site = stack.new_site(ticketing=ticketing)
    customer = stack.seed_customer(EMAIL="old@example.com", LAST_NAME="")
    contact = stack.seed_contact(customer, "ticket@example.com", "Lovelace")
    ticket = ticket_created_trigger(next(_ticket_ids), contact, "contact", site_id=site.site_id)
    assert stack.accept(site.ticketing_url, ticket).outcome == "unchanged"
    ticketing["on_ticket_created"] = {"update": "fill_empty", "no_match": "never"}

    answer = preview(
        stack,
        site.site_id,
        settings=settings_with(stack, site.site_id, ticketing=ticketing),
        channel="ticketing",
    )

    [conversation] = answer["conversations"]
    assert (conversation["event"], conversation["customer_id"]) == ("ticket_created", customer)
    assert conversation["changes"] == [{"field": "LAST_NAME", "old": "", "new": "Lovelace"}]


def test_settings_that_save_would_refuse_are_refused_with_every_problem(stack: Stack) -> None:
    site = stack.new_site()
    document = settings_with(
        stack,
        site.site_id,
        livechat=livechat("sometimes", identification=[]),
        optimove={"base_url": "https://api9.optimove.net"},
    )

    response = stack.admin.post(
        f"/sites/{site.site_id}/preview", json={"settings": document, "channel": "livechat"}
    )

    assert response.status_code == 422
    pointers = {problem["pointer"] for problem in response.json()["error"]["details"]}
    assert "/livechat/on_chat_end/update" in pointers


def test_a_connection_other_than_the_saved_one_is_refused(stack: Stack) -> None:
    site = stack.new_site()
    document = settings_with(stack, site.site_id)
    document["comm100"] = {**document["comm100"], "agent_email": "someone@example.com"}

    response = stack.admin.post(
        f"/sites/{site.site_id}/preview", json={"settings": document, "channel": "ticketing"}
    )

    assert response.status_code == 422
    [problem] = response.json()["error"]["details"]
    assert problem["pointer"] == "/comm100/agent_email"
