"""The host page's conversation context, read by the Comm100 webhook parser's own code."""

from __future__ import annotations

import pytest

from optibridge.errors import Invalid
from optibridge.sync.agents import read_host_context

VISITOR = "5b0e2f4c-1111-4a4a-9d9d-000000000001"
CONTACT = "6f1c2a9e-0000-4000-8000-000000001001"


def test_a_chat_context_has_the_visitors_fields_by_source() -> None:
    host = read_host_context(
        "livechat",
        {
            "chat_id": "9f9f",
            "visitor": {
                "id": VISITOR,
                "name": "Grace",
                "email": "grace@example.com",
                "product_service": "Loans",
                "sso_id": "sso-7",
                "custom_fields": [{"name": "First Name", "value": "Grace"}],
                "custom_variables": [{"name": "customer_id", "value": "C1002"}],
            },
        },
    )
    context = host.context
    assert context.channel == "livechat"
    assert context.system["email"] == "grace@example.com"
    assert context.system["product_service"] == "Loans"
    assert context.system["sso_id"] == "sso-7"
    assert context.prechat == {"First Name": "Grace"}
    assert context.custom_variables == {"customer_id": "C1002"}
    assert (context.subject_kind, context.subject_id) == ("visitor", VISITOR)
    assert host.comm100_ids == {"chat_id": "9f9f", "visitor_id": VISITOR}


def test_a_chat_context_orders_console_writes_with_the_visitors_events() -> None:
    host = read_host_context("livechat", {"visitor": {"id": VISITOR}})
    assert host.order_key == f"visitor:{VISITOR}"


def test_a_ticket_context_names_its_requester() -> None:
    host = read_host_context(
        "ticketing", {"ticket_id": 123, "requester": {"type": "contact", "id": CONTACT}}
    )
    assert host.ticket_id == "123"
    assert (host.context.subject_kind, host.context.subject_id) == ("contact", CONTACT)
    assert not host.context.requester_is_visitor


def test_a_ticket_by_a_visitor_is_marked_as_such() -> None:
    host = read_host_context(
        "ticketing", {"ticket_id": "77", "requester": {"type": "visitor", "id": VISITOR}}
    )
    assert host.context.requester_is_visitor


@pytest.mark.parametrize(
    ("channel", "context", "says"),
    [
        ("livechat", {"visitor": "grace"}, "'visitor' must be an object"),
        ("livechat", {"visitor": {"id": ["a"]}}, "visitor.id"),
        ("ticketing", {"requester": {"type": "contact", "id": CONTACT}}, "TicketInfo.Id"),
    ],
)
def test_an_unreadable_context_is_refused_with_the_reason(
    channel: str, context: dict[str, object], says: str
) -> None:
    with pytest.raises(Invalid) as refused:
        read_host_context(channel, context)  # type: ignore[arg-type]
    assert refused.value.details[0].pointer == "/context"
    assert says in refused.value.details[0].message
