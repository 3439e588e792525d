"""Ticket trigger bodies (PascalCase with numeric enums, camelCase with string enums)."""

from __future__ import annotations

from typing import Any

import pytest

from optibridge.comm100.schemas import CONTACT_OR_VISITOR_TYPES, Contact
from optibridge.comm100.webhooks import (
    WebhookShapeError,
    parse_livechat_webhook,
    parse_ticket_trigger,
    ticket_context,
)
from optibridge.domain.context import TICKET_CREATED

from . import bodies
from .bodies import CONTACT_ID

NUMERIC = {kind: number for number, kind in CONTACT_OR_VISITOR_TYPES.items()}
CONTACT = 3  # Comm100's samples (reference/comm100.md)


def test_a_pascal_case_trigger_gives_the_requesting_contact() -> None:
    event = parse_ticket_trigger(bodies.ticket_trigger_pascal(NUMERIC["contact"]))
    assert event.channel == "ticketing"
    assert event.event == TICKET_CREATED
    assert event.order_key == f"contact:{CONTACT_ID}"
    assert event.comm100_ids == {
        "ticket_id": "123",
        "requester_id": CONTACT_ID,
        "requester_kind": "contact",
        "trigger_id": "7c1e0f5a-1111-4222-8333-944455556666",
        "channel_id": "email",
    }
    context = event.context
    assert context.channel == "ticketing"
    assert context.event == TICKET_CREATED
    assert context.subject_kind == "contact"
    assert context.subject_id == CONTACT_ID
    assert not context.requester_is_visitor
    assert dict(context.contact) == {}
    assert dict(context.system) == {}


def test_three_is_a_contact_as_in_comm100s_samples() -> None:
    assert NUMERIC == {"contact": CONTACT}
    event = parse_ticket_trigger(bodies.ticket_trigger_pascal(CONTACT))
    assert event.context.subject_kind == "contact"


@pytest.mark.parametrize("number", [1, 0, 2, 4, 7, 99])
def test_any_other_number_leaves_the_kind_to_the_ticket(number: int) -> None:
    """1 is an *agent* in the samples' other fields; no visitor's number was ever published:
    the requester's kind is read from the ticket, never guessed."""
    event = parse_ticket_trigger(bodies.ticket_trigger_pascal(number))
    assert event.context.subject_kind is None
    assert event.order_key == f"requester:{CONTACT_ID}"
    assert "requester_kind" not in event.comm100_ids


def test_a_visitor_requester_named_so_is_marked() -> None:
    event = parse_ticket_trigger(bodies.ticket_trigger_camel("visitor"))
    assert event.context.subject_kind == "visitor"
    assert event.context.requester_is_visitor
    assert event.order_key == f"visitor:{CONTACT_ID}"


@pytest.mark.parametrize(
    ("sent", "kind"),
    [
        ("contact", "contact"),
        ("Contact", "contact"),
        (" VISITOR ", "visitor"),
        (str(CONTACT), "contact"),
        (CONTACT, "contact"),
    ],
)
def test_the_requester_type_is_read_as_a_name_or_a_number(sent: Any, kind: str) -> None:
    camel = parse_ticket_trigger(bodies.ticket_trigger_camel(sent))
    pascal = parse_ticket_trigger(bodies.ticket_trigger_pascal(sent))
    assert camel.context.subject_kind == pascal.context.subject_kind == kind


def test_camel_and_pascal_case_triggers_give_the_same_event() -> None:
    pascal = parse_ticket_trigger(bodies.ticket_trigger_pascal(NUMERIC["contact"]))
    camel = parse_ticket_trigger(bodies.ticket_trigger_camel("contact"))
    assert camel.dedupe_key == pascal.dedupe_key
    assert camel.order_key == pascal.order_key
    assert camel.context == pascal.context


def test_a_ticket_id_seen_before_is_a_duplicate_whatever_else_changed() -> None:
    first = parse_ticket_trigger(bodies.ticket_trigger_pascal(ticket_id=123))
    again = bodies.ticket_trigger_camel(ticket_id="123")
    again["ticketInfo"]["subject"] = "Edited"
    again["triggerId"] = "another trigger"
    assert parse_ticket_trigger(again).dedupe_key == first.dedupe_key
    other = parse_ticket_trigger(bodies.ticket_trigger_pascal(ticket_id=124))
    assert other.dedupe_key != first.dedupe_key


def test_the_ticket_key_differs_from_a_live_chat_key_of_the_same_id() -> None:
    chat = parse_livechat_webhook({"event": "chat_ended", "chat": {"id": 123}})
    assert parse_ticket_trigger(bodies.ticket_trigger_pascal(ticket_id=123)).dedupe_key != (
        chat.dedupe_key
    )


@pytest.mark.parametrize("requester_type", [None, "", 7, "agent"])
def test_an_unknown_requester_type_leaves_the_kind_open(requester_type: Any) -> None:
    event = parse_ticket_trigger(bodies.ticket_trigger_camel(requester_type))
    assert event.context.subject_kind is None
    assert event.context.subject_id == CONTACT_ID
    assert event.order_key == f"requester:{CONTACT_ID}"


def test_a_trigger_without_a_requester_is_ordered_by_its_ticket() -> None:
    body = bodies.ticket_trigger_pascal()
    del body["TicketInfo"]["ContactOrVisitorId"]
    event = parse_ticket_trigger(body)
    assert event.order_key == "ticket:123"
    assert event.context.subject_id is None
    assert "requester_id" not in event.comm100_ids


def test_the_ticket_id_may_be_given_beside_the_ticket_info() -> None:
    body = bodies.ticket_trigger_pascal()
    del body["TicketInfo"]["Id"]
    body["TicketId"] = 123
    assert parse_ticket_trigger(body) == parse_ticket_trigger(bodies.ticket_trigger_pascal())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1], "the body must be a JSON object, found a JSON list"),
        ({"SiteId": 10000}, "missing 'TicketInfo'"),
        ({"TicketInfo": "123"}, "'TicketInfo' must be an object, found a JSON string"),
        ({"TicketInfo": {"Subject": "x"}}, r"missing 'TicketInfo\.Id'"),
        ({"TicketInfo": {"Id": [123]}}, r"'TicketInfo\.Id' must be a string or an integer"),
        (
            {"TicketInfo": {"Id": 1, "ContactOrVisitorId": {}}},
            r"'TicketInfo\.ContactOrVisitorId' must be",
        ),
    ],
)
def test_unreadable_triggers_are_refused_with_the_reason(body: object, message: str) -> None:
    with pytest.raises(WebhookShapeError, match=message):
        parse_ticket_trigger(body)


def test_the_ticket_context_adds_the_contact_read_through_the_api() -> None:
    event = parse_ticket_trigger(bodies.ticket_trigger_camel("contact"))
    contact = Contact(
        CONTACT_ID,
        fields={"name": "Ada", "Customer ID": "C-1"},
        identities={"Email": "ada@example.com"},
    )
    context = ticket_context(event, contact)
    assert dict(context.contact) == {"name": "Ada", "Customer ID": "C-1"}
    assert dict(context.identities) == {"Email": "ada@example.com"}
    assert context.subject_id == CONTACT_ID
    assert ticket_context(event, None) == event.context
