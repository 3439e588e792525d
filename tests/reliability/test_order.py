"""One Optimove customer's events apply in the order received, even when an older one can only
be identified after a later one was applied (SPEC 4.4, docs/decisions.md)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

import pytest

from optibridge.sandbox.comm100.payloads import ticket_created_trigger
from optibridge.store.models import SyncRecord
from tests.sync.stack import Stack, chat_end_for, default_settings, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.reliability]

_ticket_ids = itertools.count(950_000)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # The default retry schedule (2 s, 4 s, …): a record waiting for Comm100 keeps its place
    # long enough for a later event to go first, whatever the machine's load.
    with running_stack(tmp_path_factory.mktemp("order"), services=2) as running:
        yield running


def ticket_then_chat(stack: Stack, seeded_email: str) -> tuple[str, int, SyncRecord]:
    """A customer (`seeded_email`, LAST_NAME "Old"), then a ticket of theirs whose contact can't
    be read (Comm100 down) and a later chat (e-mail chat@example.com) applied meanwhile: the
    customer, the ticket's record id, and the chat's settled record."""
    section = default_settings("", "")["livechat"]
    section["on_chat_end"] = {"update": "overwrite", "no_match": "never"}
    site = stack.new_site(livechat=section)  # tickets: overwrite EMAIL and LAST_NAME
    customer = stack.seed_customer(EMAIL=seeded_email, LAST_NAME="Old")
    contact = stack.seed_contact(customer, f"ticket-{uuid.uuid4().hex[:6]}@example.com", "Ticket")
    stack.comm100.put("/_sandbox/faults", json={"error_rate": 1.0}).raise_for_status()
    try:
        response = stack.send(
            site.ticketing_url,
            ticket_created_trigger(next(_ticket_ids), contact, "contact", site_id=site.site_id),
        )
        assert response.status_code == 202, response.text
        ticket: int = response.json()["id"]
        chat = stack.accept(site.livechat_url, chat_end_for(customer, "chat@example.com"))
    finally:
        stack.comm100.put("/_sandbox/faults", json={"error_rate": 0}).raise_for_status()
    # The ticket can't have been identified yet: that needs its contact, from Comm100.
    assert chat.id > ticket
    return customer, ticket, chat


def assert_ticket_left_the_chats_email(
    stack: Stack, customer: str, ticket: int, chat: SyncRecord
) -> None:
    older = stack.settled(ticket, timeout_s=60)
    assert (older.state, older.outcome) == ("done", "updated"), older.last_error
    assert [change["field"] for change in older.changes] == ["LAST_NAME"]
    assert f"record {chat.id}, a later event, already set EMAIL" in (older.reason or "")
    after = stack.customer(customer) or {}
    assert (after["EMAIL"], after["LAST_NAME"]) == ("chat@example.com", "Ticket")


def test_an_older_ticket_identified_after_a_later_chat_leaves_the_chats_values_alone(
    stack: Stack,
) -> None:
    """The ticket came first, but its contact could not be read (Comm100 down) until the
    customer's later chat was applied: the ticket then writes only what the chat did not."""
    customer, ticket, chat = ticket_then_chat(stack, seeded_email="old@example.com")
    assert chat.outcome == "updated"
    assert_ticket_left_the_chats_email(stack, customer, ticket, chat)


def test_a_later_event_that_found_its_values_already_there_still_wins(stack: Stack) -> None:
    """The later chat wrote nothing (Optimove already had its e-mail): the older ticket, applied
    after it, must not put the ticket's e-mail over the chat's all the same."""
    customer, ticket, chat = ticket_then_chat(stack, seeded_email="chat@example.com")
    assert (chat.outcome, chat.changes) == ("unchanged", [])
    assert_ticket_left_the_chats_email(stack, customer, ticket, chat)
