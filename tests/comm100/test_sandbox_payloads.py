"""The parser reads every body the Comm100 sandbox's payload builders produce, in every variant."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optibridge.comm100.webhooks import parse_livechat_webhook, parse_ticket_trigger
from optibridge.sandbox.comm100 import payloads
from optibridge.sandbox.comm100.payloads import (
    Chat,
    FieldAnswer,
    OfflineMessage,
    Variant,
    Visitor,
    Wrapup,
)

VISITOR_ID = "3f1c2b6e-8a4d-4f0e-9b7a-1c2d3e4f5a6b"
CHAT_ID = "9d8c7b6a-5f4e-4d3c-8b2a-1a2b3c4d5e6f"
OFFLINE_ID = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"
REQUESTER_ID = "6e5d4c3b-2a19-4807-b6a5-948372615049"

ADA = Visitor(
    id=VISITOR_ID,
    name="Ada Lovelace",
    email="ada@example.com",
    phone="+44 20 7946 0000",
    company="Analytical Engines",
    ip="203.0.113.7",
    city="London",
    country="United Kingdom",
    language="en",
    product_service="Difference Engine",
    department="Sales",
    custom_fields=(
        FieldAnswer(id="11111111-0000-4000-8000-000000000001", name="Customer ID", value="C-1001"),
    ),
    custom_variables={"vip": "gold"},
    sso_id="sso-1",
)
CHAT = Chat(
    id=CHAT_ID,
    start_time=datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
    end_time=datetime(2024, 5, 1, 10, 20, tzinfo=UTC),
    transcript=("Ada: hello", "Agent: hi"),
    custom_variables={"vip": "gold", "customer_id": "C-1001"},
)
MESSAGE = OfflineMessage(
    id=OFFLINE_ID,
    time=datetime(2024, 5, 2, 8, 0, tzinfo=UTC),
    subject="Call me",
    content="About the engine.",
    email="ada@work.example",
    custom_fields=(
        FieldAnswer(id="11111111-0000-4000-8000-000000000002", name="Order", value="A-7"),
    ),
)
VARIANTS = [
    Variant(),
    Variant(dates="epoch_ms"),
    Variant(variables_key="custom_variable"),
    Variant(variables_key="custom_variables"),
    Variant(dates="epoch_ms", variables_key="custom_variable"),
]


def test_a_built_chat_ended_gives_the_complete_context() -> None:
    event = parse_livechat_webhook(payloads.chat_ended(visitor=ADA, chat=CHAT))
    assert event.event == "chat_ended"
    assert event.comm100_ids == {"chat_id": CHAT_ID, "visitor_id": VISITOR_ID}
    assert event.order_key == f"visitor:{VISITOR_ID}"
    assert dict(event.context.system) == {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+44 20 7946 0000",
        "company": "Analytical Engines",
        "ip": "203.0.113.7",
        "city": "London",
        "country": "United Kingdom",
        "language": "en",
        "product_service": "Difference Engine",
        "department": "Sales",
        "sso_id": "sso-1",
        "visitor_id": VISITOR_ID,
    }
    assert dict(event.context.prechat) == {"Customer ID": "C-1001"}
    assert dict(event.context.custom_variables) == {"vip": "gold", "customer_id": "C-1001"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_of_a_chat_ended_is_the_same_event(variant: Variant) -> None:
    documented = parse_livechat_webhook(payloads.chat_ended(visitor=ADA, chat=CHAT))
    assert (
        parse_livechat_webhook(payloads.chat_ended(visitor=ADA, chat=CHAT, variant=variant))
        == documented
    )


@pytest.mark.parametrize("dates", ["ms_date", "epoch_ms"])
def test_integer_ids_are_given_as_strings(dates: Any) -> None:
    body = payloads.chat_ended(
        visitor=ADA, chat=CHAT, variant=Variant(integer_ids=True, dates=dates)
    )
    event = parse_livechat_webhook(body)
    assert event.comm100_ids == {
        "chat_id": str(payloads.integer_id(CHAT_ID)),
        "visitor_id": str(payloads.integer_id(VISITOR_ID)),
    }
    assert event == parse_livechat_webhook(
        payloads.chat_ended(visitor=ADA, chat=CHAT, variant=Variant(integer_ids=True))
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_of_an_offline_message_is_the_same_event(variant: Variant) -> None:
    body = payloads.offline_message_submitted(visitor=ADA, offline_message=MESSAGE, variant=variant)
    event = parse_livechat_webhook(body)
    assert event.event == "offline_message_submitted"
    assert event.comm100_ids == {"offline_message_id": OFFLINE_ID, "visitor_id": VISITOR_ID}
    assert dict(event.context.offline) == {
        "name": "Ada Lovelace",
        "email": "ada@work.example",
        "phone": "+44 20 7946 0000",
        "company": "Analytical Engines",
        "subject": "Call me",
        "content": "About the engine.",
        "department": "Sales",
        "Order": "A-7",
    }
    assert event.context.system["email"] == "ada@work.example"
    assert dict(event.context.custom_variables) == {"vip": "gold"}
    assert event == parse_livechat_webhook(
        payloads.offline_message_submitted(visitor=ADA, offline_message=MESSAGE)
    )


def test_built_events_that_are_only_recorded_are_read() -> None:
    started = parse_livechat_webhook(payloads.chat_started(visitor=ADA, chat_id=CHAT_ID))
    wrapped = parse_livechat_webhook(
        payloads.chat_wrapped_up(
            visitor=ADA,
            chat_id=CHAT_ID,
            wrapup=Wrapup(time=datetime(2024, 5, 1, 10, 25, tzinfo=UTC), category="Sales"),
        )
    )
    assert (started.event, wrapped.event) == ("chat_started", "chat_wrapped_up")
    assert started.comm100_ids["chat_id"] == wrapped.comm100_ids["chat_id"] == CHAT_ID
    assert started.dedupe_key != wrapped.dedupe_key


@pytest.mark.parametrize("requester_type", ["contact", "visitor"])
def test_both_trigger_styles_give_the_same_requester(requester_type: Any) -> None:
    """A contact (3) is one from either style; the sandbox's visitor number is no documented
    number, so the PascalCase trigger leaves it for the ticket to tell."""
    pascal = payloads.ticket_created_trigger(321, REQUESTER_ID, requester_type, style="pascal")
    camel = payloads.ticket_created_trigger(321, REQUESTER_ID, requester_type, style="camel")
    event = parse_ticket_trigger(camel)
    assert event.context.subject_kind == requester_type
    from_pascal = parse_ticket_trigger(pascal)
    assert from_pascal.dedupe_key == event.dedupe_key
    assert from_pascal.context.subject_kind == ("contact" if requester_type == "contact" else None)
    assert event.context.subject_id == REQUESTER_ID
    assert event.comm100_ids["ticket_id"] == "321"
    assert event.order_key == f"{requester_type}:{REQUESTER_ID}"  # the camelCase one


# --- generated conversations, built by the sandbox ----------------------------------------------

words = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=12)
guids = st.uuids().map(str)
moments = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)
answers = st.lists(
    st.builds(FieldAnswer, id=guids, name=words.filter(str.strip), value=words), max_size=3
)
variables = st.dictionaries(words, words, max_size=3)
visitors = st.builds(
    Visitor,
    id=guids,
    name=words,
    email=words,
    company=words,
    custom_fields=answers,
    custom_variables=variables,
)
chats = st.builds(
    Chat,
    id=guids,
    start_time=moments,
    end_time=moments,
    custom_fields=st.none() | answers,
    custom_variables=st.none() | variables,
)
variants = st.builds(
    Variant,
    dates=st.sampled_from(["ms_date", "epoch_ms"]),
    variables_key=st.sampled_from([None, "custom_variables", "custom_variable"]),
)


@given(visitors, chats, variants)
def test_any_built_chat_ended_is_one_event_in_every_variant(
    visitor: Visitor, chat: Chat, variant: Variant
) -> None:
    documented = parse_livechat_webhook(payloads.chat_ended(visitor=visitor, chat=chat))
    respelled = parse_livechat_webhook(
        payloads.chat_ended(visitor=visitor, chat=chat, variant=variant)
    )
    assert respelled == documented
    assert documented.comm100_ids["chat_id"] == chat.id
    assert documented.context.subject_id == visitor.id
