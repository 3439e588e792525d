"""Comm100 webhook bodies as the sandbox builds them: the documented shapes and variants."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from optibridge.sandbox.comm100.payloads import (
    Attachment,
    Chat,
    FieldAnswer,
    OfflineMessage,
    TicketPriority,
    TicketStatus,
    Variant,
    Visitor,
    Wrapup,
    chat_ended,
    chat_started,
    chat_wrapped_up,
    integer_id,
    ms_date,
    offline_message_submitted,
    ticket_created_trigger,
)

VISITOR_ID = "4b1f6c2e-8d3a-4e5f-9a0b-1c2d3e4f5a6b"
CHAT_ID = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
FIELD_ID = "11111111-2222-4333-8444-555555555555"
CONTACT_ID = "2f1e6a3c-0d4b-4a5b-8c9d-0123456789ab"
STARTED = datetime(2020, 3, 17, 3, 9, 9, 307000, tzinfo=UTC)  # 1584414549307 ms
ENDED = 1584415749307

VISITOR = Visitor(
    id=VISITOR_ID,
    name="Ada Lovelace",
    email="ada@example.com",
    phone="+44 20 7946 0000",
    company="Analytical Engines",
    ip="203.0.113.7",
    city="London",
    state="England",
    country="United Kingdom",
    language="en",
    referrer_url="https://www.google.com/",
    landing_page="https://shop.example.com/",
    product_service="Engines",
    department="Sales",
    custom_fields=(FieldAnswer(id=FIELD_ID, name="Customer ID", value="C1001"),),
    custom_variables={"customer_id": "C1001", "vip": "gold"},
)
CHAT = Chat(
    id=CHAT_ID,
    start_time=STARTED,
    end_time=ENDED,
    transcript=("[03:09:09] Ada: Hello", "[03:09:15] Agent: Hi Ada!"),
)
VISITOR_BODY = {
    "id": VISITOR_ID,
    "chat_id": CHAT_ID,
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": "+44 20 7946 0000",
    "company": "Analytical Engines",
    "ip": "203.0.113.7",
    "city": "London",
    "state": "England",
    "country": "United Kingdom",
    "language": "en",
    "referrer_url": "https://www.google.com/",
    "landing_page": "https://shop.example.com/",
    "product_service": "Engines",
    "department": "Sales",
    "custom_fields": [{"id": FIELD_ID, "name": "Customer ID", "value": "C1001"}],
    "custom_variables": [
        {"name": "customer_id", "value": "C1001"},
        {"name": "vip", "value": "gold"},
    ],
    "visits": 1,
}


def test_chat_ended_has_the_documented_shape() -> None:
    body = chat_ended(visitor=VISITOR, chat=CHAT)

    assert body == {
        "event": "chat_ended",
        "visitor": VISITOR_BODY,
        "chat": {
            "id": CHAT_ID,
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "phone": "+44 20 7946 0000",
            "company": "Analytical Engines",
            "department": "Sales",
            "start_time": "/Date(1584414549307)/",
            "end_time": "/Date(1584415749307)/",
            "chat_transcript": "[03:09:09] Ada: Hello⊙[03:09:15] Agent: Hi Ada!",
            "custom_fields": [{"id": FIELD_ID, "name": "Customer ID", "value": "C1001"}],
            "custom_variable": [
                {"name": "customer_id", "value": "C1001"},
                {"name": "vip", "value": "gold"},
            ],
        },
    }
    assert list(body) == ["event", "visitor", "chat"]


def test_a_chat_can_say_its_own_department_fields_and_variables() -> None:
    chat = Chat(
        id=CHAT_ID,
        start_time=STARTED,
        end_time=ENDED,
        department="Support",
        custom_fields=(),
        custom_variables={"vip": "silver"},
    )

    body = chat_ended(visitor=VISITOR, chat=chat)["chat"]

    assert (body["department"], body["custom_fields"], body["custom_variable"]) == (
        "Support",
        [],
        [{"name": "vip", "value": "silver"}],
    )
    assert body["chat_transcript"] == ""


def test_the_epoch_ms_variant_writes_plain_numbers() -> None:
    body = chat_ended(visitor=VISITOR, chat=CHAT, variant=Variant(dates="epoch_ms"))

    assert (body["chat"]["start_time"], body["chat"]["end_time"]) == (1584414549307, ENDED)


def test_the_integer_ids_variant_turns_every_id_into_a_stable_number() -> None:
    body = chat_ended(visitor=VISITOR, chat=CHAT, variant=Variant(integer_ids=True))

    ids = [
        body["visitor"]["id"],
        body["visitor"]["chat_id"],
        body["chat"]["id"],
        body["visitor"]["custom_fields"][0]["id"],
        body["chat"]["custom_fields"][0]["id"],
    ]
    assert all(isinstance(i, int) and i > 0 for i in ids)
    assert body["visitor"]["id"] == integer_id(VISITOR_ID)
    assert body["visitor"]["chat_id"] == body["chat"]["id"] == integer_id(CHAT_ID)
    assert (integer_id(42), integer_id("42")) == (42, 42)


def test_integer_ids_may_also_be_given_directly() -> None:
    visitor = Visitor(id=1234, name="Ada")

    body = chat_ended(visitor=visitor, chat=Chat(id=5678, start_time=STARTED, end_time=ENDED))

    assert (body["visitor"]["id"], body["visitor"]["chat_id"], body["chat"]["id"]) == (
        1234,
        5678,
        5678,
    )


def test_the_chat_variables_key_can_be_the_plural_of_the_reference() -> None:
    body = chat_ended(visitor=VISITOR, chat=CHAT, variant=Variant(variables_key="custom_variables"))

    assert "custom_variables" in body["chat"]
    assert "custom_variable" not in body["chat"]
    assert "custom_variables" in body["visitor"]


def test_offline_message_submitted_has_the_documented_shape() -> None:
    message = OfflineMessage(
        id=77,
        time=ENDED,
        subject="Refund",
        content="Where is my refund?",
        attachment=Attachment(name="receipt.pdf", uri="https://files.example.com/receipt.pdf"),
    )

    body = offline_message_submitted(visitor=VISITOR, offline_message=message)

    assert body == {
        "event": "offline_message_submitted",
        "offline_message": {
            "id": 77,
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "phone": "+44 20 7946 0000",
            "company": "Analytical Engines",
            "subject": "Refund",
            "content": "Where is my refund?",
            "attachment": {
                "name": "receipt.pdf",
                "uri": "https://files.example.com/receipt.pdf",
            },
            "custom_fields": [{"id": FIELD_ID, "name": "Customer ID", "value": "C1001"}],
            "custom_variable": [
                {"name": "customer_id", "value": "C1001"},
                {"name": "vip", "value": "gold"},
            ],
            "department": "Sales",
            "time": "/Date(1584415749307)/",
        },
        "visitor": VISITOR_BODY | {"chat_id": None},
    }
    assert list(body) == ["event", "offline_message", "visitor"]


def test_an_offline_message_can_override_the_visitor_and_use_the_plural_key() -> None:
    message = OfflineMessage(
        id="m-1", time=STARTED, name="A. L.", email="al@example.com", custom_variables={}
    )

    body = offline_message_submitted(
        visitor=VISITOR,
        offline_message=message,
        variant=Variant(variables_key="custom_variables", dates="epoch_ms"),
    )["offline_message"]

    assert (body["name"], body["email"], body["phone"]) == (
        "A. L.",
        "al@example.com",
        "+44 20 7946 0000",
    )
    assert body["custom_variables"] == []
    assert "custom_variable" not in body
    assert body["attachment"] is None
    assert body["time"] == 1584414549307


def test_chat_started_carries_the_visitor_only() -> None:
    body = chat_started(visitor=VISITOR, chat_id=CHAT_ID)

    assert body == {"event": "chat_started", "visitor": VISITOR_BODY}


def test_chat_wrapped_up_carries_the_wrapup() -> None:
    wrapup = Wrapup(
        category="Billing",
        comment="Refund promised",
        fields=(FieldAnswer(id=3, name="Resolved", value="Yes"),),
        time=ENDED,
    )

    body = chat_wrapped_up(visitor=VISITOR, chat_id=CHAT_ID, wrapup=wrapup)

    assert body == {
        "event": "chat_wrapped_up",
        "chat_id": CHAT_ID,
        "visitor": VISITOR_BODY,
        "wrapup": {
            "category": "Billing",
            "comment": "Refund promised",
            "fields": [{"id": 3, "name": "Resolved", "value": "Yes"}],
            "time": "/Date(1584415749307)/",
        },
    }


def test_an_sso_id_appears_only_when_given() -> None:
    with_sso = Visitor(id=VISITOR_ID, sso_id="sso-42")

    assert chat_started(visitor=with_sso)["visitor"]["sso_id"] == "sso-42"
    assert "sso_id" not in chat_started(visitor=VISITOR)["visitor"]


def test_dates_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ms_date(datetime(2020, 3, 17, 3, 9, 9))


def test_bodies_are_plain_json() -> None:
    body = chat_ended(visitor=VISITOR, chat=CHAT)

    assert json.loads(json.dumps(body, ensure_ascii=False)) == body


# --- ticket triggers --------------------------------------------------------------------------


def test_a_pascal_case_trigger_for_a_contact_has_numeric_enums() -> None:
    body = ticket_created_trigger(
        123,
        CONTACT_ID,
        "contact",
        subject="Refund",
        custom_fields={FIELD_ID: "C1001"},
        tags=["vip"],
    )

    assert body == {
        "SiteId": 10000,
        "TriggerId": body["TriggerId"],
        "TriggerName": body["TriggerName"],
        "ChannelAccountId": body["ChannelAccountId"],
        "ChannelId": "email",
        "TicketInfo": {
            "Id": 123,
            "Subject": "Refund",
            "ContactOrVisitorType": 3,
            "ContactOrVisitorId": CONTACT_ID,
            "Status": 1,
            "Priority": 3,
            "CustomFields": {FIELD_ID: "C1001"},
            "Tags": ["vip"],
        },
    }
    assert isinstance(body["TriggerId"], str)
    assert isinstance(body["TriggerName"], str)


def test_a_trigger_for_a_visitor_says_2() -> None:
    body = ticket_created_trigger(124, CONTACT_ID, "visitor", site_id=20000)

    assert body["SiteId"] == 20000
    assert body["TicketInfo"]["ContactOrVisitorType"] == 2


@pytest.mark.parametrize(
    ("status", "number"),
    [("new", 1), ("pendingInternal", 2), ("pendingExternal", 3), ("onHold", 4), ("closed", 5)],
)
def test_statuses_are_numbered(status: TicketStatus, number: int) -> None:
    body = ticket_created_trigger(1, CONTACT_ID, "contact", status=status)

    assert body["TicketInfo"]["Status"] == number


@pytest.mark.parametrize(
    ("priority", "number"), [("urgent", 1), ("high", 2), ("normal", 3), ("low", 4)]
)
def test_priorities_are_numbered(priority: TicketPriority, number: int) -> None:
    body = ticket_created_trigger(1, CONTACT_ID, "contact", priority=priority)

    assert body["TicketInfo"]["Priority"] == number


def test_a_camel_case_trigger_has_string_enums() -> None:
    body = ticket_created_trigger(
        123, CONTACT_ID, "visitor", style="camel", subject="Refund", priority="high"
    )

    assert body == {
        "siteId": 10000,
        "triggerId": body["triggerId"],
        "triggerName": body["triggerName"],
        "channelAccountId": body["channelAccountId"],
        "channelId": "email",
        "ticketInfo": {
            "id": 123,
            "subject": "Refund",
            "contactOrVisitorType": "visitor",
            "contactOrVisitorId": CONTACT_ID,
            "status": "new",
            "priority": "high",
            "customFields": {},
            "tags": [],
        },
    }
