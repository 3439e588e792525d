"""Webhook bodies written from reference/comm100.md, one per documented variant.

Each builder returns a fresh dict, so a test may change it freely.
"""

from __future__ import annotations

from typing import Any

VISITOR_ID = "3f1c2b6e-8a4d-4f0e-9b7a-1c2d3e4f5a6b"
CHAT_ID = "9d8c7b6a-5f4e-4d3c-8b2a-1a2b3c4d5e6f"
OFFLINE_ID = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"
CONTACT_ID = "6e5d4c3b-2a19-4807-b6a5-948372615049"
END_TIME = "/Date(1584415749307)/"
END_TIME_MS = 1584415749307


def visitor(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
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
        "referrer_url": "https://search.example/?q=engines",
        "landing_page": "https://shop.example/engines",
        "product_service": "Difference Engine",
        "department": "Sales",
        "custom_fields": [{"id": 11, "name": "Customer ID", "value": "C-1001"}],
        "custom_variables": [{"name": "vip", "value": "gold"}],
        "visits": 3,
    }
    body.update(extra)
    return body


def chat(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": CHAT_ID,
        "name": "Ada L.",
        "email": "ada@chat.example",
        "phone": "",
        "company": "Analytical Engines",
        "department": "Support",
        "start_time": "/Date(1584415000000)/",
        "end_time": END_TIME,
        "chat_transcript": "Ada: hello⊙Agent: hi",
        "custom_fields": [{"id": 12, "name": "First Name", "value": "Ada"}],
        "custom_variables": [{"name": "customer_id", "value": "C-1001"}],
    }
    body.update(extra)
    return body


def offline_message(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": OFFLINE_ID,
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "phone": "+1 555 0100",
        "company": "Navy",
        "subject": "Compiler",
        "content": "Please call me back.",
        "attachment": {"name": "bug.png", "uri": "https://files.example/bug.png"},
        "custom_fields": [{"id": 21, "name": "Customer ID", "value": "C-2002"}],
        "custom_variable": [{"name": "vip", "value": "silver"}],
        "department": "Support",
        "time": "/Date(1584416000000)/",
    }
    body.update(extra)
    return body


def chat_ended(**extra: Any) -> dict[str, Any]:
    return {"event": "chat_ended", "visitor": visitor(), "chat": chat(), **extra}


def offline_message_submitted(**extra: Any) -> dict[str, Any]:
    return {
        "event": "offline_message_submitted",
        "offline_message": offline_message(),
        "visitor": visitor(custom_fields=[], chat_id=None),
        **extra,
    }


def chat_started() -> dict[str, Any]:
    return {"event": "chat_started", "visitor": visitor()}


def chat_wrapped_up() -> dict[str, Any]:
    return {
        "event": "chat_wrapped_up",
        "chat_id": CHAT_ID,
        "visitor": visitor(),
        "wrapup": {
            "category": "Billing",
            "comment": "refund",
            "fields": [],
            "time": "/Date(1584415800000)/",
        },
    }


def ticket_trigger_pascal(requester_type: Any = 3, ticket_id: Any = 123) -> dict[str, Any]:
    return {
        "SiteId": 10000,
        "TriggerId": "7c1e0f5a-1111-4222-8333-944455556666",
        "TriggerName": "Ticket created → optibridge",
        "ChannelAccountId": "acc-1",
        "ChannelId": "email",
        "TicketInfo": {
            "Id": ticket_id,
            "Subject": "Where is my order?",
            "ContactOrVisitorType": requester_type,
            "ContactOrVisitorId": CONTACT_ID,
            "Status": 0,
            "Priority": 2,
            "CustomFields": {"f1": "x"},
            "Tags": [],
        },
    }


def ticket_trigger_camel(requester_type: Any = "contact", ticket_id: Any = 123) -> dict[str, Any]:
    return {
        "siteId": 10000,
        "triggerId": "7c1e0f5a-1111-4222-8333-944455556666",
        "ticketInfo": {
            "id": ticket_id,
            "subject": "Where is my order?",
            "contactOrVisitorType": requester_type,
            "contactOrVisitorId": CONTACT_ID,
            "status": "new",
            "priority": "normal",
        },
    }
