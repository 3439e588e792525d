"""Live Chat webhook bodies, in every documented variant, read into one `InboundEvent`."""

from __future__ import annotations

from typing import Any

import pytest

from optibridge.comm100.webhooks import WebhookShapeError, parse_livechat_webhook
from optibridge.domain.context import CHAT_ENDED, OFFLINE_MESSAGE_SUBMITTED

from . import bodies
from .bodies import CHAT_ID, END_TIME_MS, OFFLINE_ID, VISITOR_ID

# --- chat ended -------------------------------------------------------------------------------


def test_a_chat_ended_body_gives_the_complete_context() -> None:
    event = parse_livechat_webhook(bodies.chat_ended())
    assert event.channel == "livechat"
    assert event.event == CHAT_ENDED
    assert event.comm100_ids == {"chat_id": CHAT_ID, "visitor_id": VISITOR_ID}
    assert event.order_key == f"visitor:{VISITOR_ID}"
    context = event.context
    assert context.channel == "livechat"
    assert context.event == CHAT_ENDED
    assert context.subject_kind == "visitor"
    assert context.subject_id == VISITOR_ID
    assert dict(context.system) == {
        # the chat's own values win over the visitor's
        "name": "Ada L.",
        "email": "ada@chat.example",
        "department": "Support",
        # the chat's empty phone does not hide the visitor's
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
        "visitor_id": VISITOR_ID,
    }
    assert dict(context.prechat) == {"Customer ID": "C-1001", "First Name": "Ada"}
    assert dict(context.custom_variables) == {"vip": "gold", "customer_id": "C-1001"}
    assert dict(context.offline) == {}
    assert dict(context.contact) == {}
    assert dict(context.identities) == {}


def test_the_dedupe_key_is_a_hex_digest() -> None:
    key = parse_livechat_webhook(bodies.chat_ended()).dedupe_key
    assert len(key) == 64
    int(key, 16)


def test_the_same_chat_ended_twice_gives_the_same_key() -> None:
    first = parse_livechat_webhook(bodies.chat_ended())
    second = parse_livechat_webhook(bodies.chat_ended())
    assert first == second


def test_two_chats_give_two_keys() -> None:
    first = parse_livechat_webhook(bodies.chat_ended())
    other = bodies.chat_ended()
    other["chat"]["id"] = "11111111-2222-4333-8444-555555555555"
    assert parse_livechat_webhook(other).dedupe_key != first.dedupe_key


def test_the_end_time_is_part_of_the_key() -> None:
    first = parse_livechat_webhook(bodies.chat_ended())
    later = bodies.chat_ended()
    later["chat"]["end_time"] = "/Date(1584415999999)/"
    assert parse_livechat_webhook(later).dedupe_key != first.dedupe_key


@pytest.mark.parametrize(
    "end_time",
    [
        END_TIME_MS,
        str(END_TIME_MS),
        f"/Date({END_TIME_MS})/",
        f"/Date({END_TIME_MS}+0800)/",
        "2020-03-17T03:29:09.307Z",
        "2020-03-17T03:29:09.307",
        float(END_TIME_MS),
    ],
)
def test_end_times_in_any_documented_format_give_one_key(end_time: Any) -> None:
    expected = parse_livechat_webhook(bodies.chat_ended()).dedupe_key
    body = bodies.chat_ended()
    body["chat"]["end_time"] = end_time
    assert parse_livechat_webhook(body).dedupe_key == expected


def test_ids_may_be_integers_and_are_given_as_strings() -> None:
    body = bodies.chat_ended()
    body["chat"]["id"] = 4711
    body["visitor"]["id"] = 815
    event = parse_livechat_webhook(body)
    assert event.comm100_ids == {"chat_id": "4711", "visitor_id": "815"}
    assert event.context.system["visitor_id"] == "815"
    assert event.order_key == "visitor:815"


def test_an_integer_id_and_its_string_give_one_key() -> None:
    as_int = bodies.chat_ended()
    as_int["chat"]["id"] = 4711
    as_text = bodies.chat_ended()
    as_text["chat"]["id"] = " 4711 "
    assert parse_livechat_webhook(as_int) == parse_livechat_webhook(as_text)


def test_guids_are_read_in_any_case_and_with_braces() -> None:
    body = bodies.chat_ended()
    body["chat"]["id"] = "{" + CHAT_ID.upper() + "}"
    body["visitor"]["id"] = VISITOR_ID.upper()
    assert parse_livechat_webhook(body) == parse_livechat_webhook(bodies.chat_ended())


def test_the_chat_id_may_come_only_from_the_visitor() -> None:
    body = bodies.chat_ended()
    del body["chat"]["id"]
    event = parse_livechat_webhook(body)
    assert event.comm100_ids["chat_id"] == CHAT_ID
    assert event.dedupe_key == parse_livechat_webhook(bodies.chat_ended()).dedupe_key


def test_custom_variable_singular_is_read_like_the_plural() -> None:
    body = bodies.chat_ended()
    body["chat"]["custom_variable"] = body["chat"].pop("custom_variables")
    assert parse_livechat_webhook(body) == parse_livechat_webhook(bodies.chat_ended())


def test_camel_case_keys_are_read_like_snake_case() -> None:
    body = bodies.chat_ended()
    body["chat"]["customVariables"] = body["chat"].pop("custom_variables")
    body["chat"]["endTime"] = body["chat"].pop("end_time")
    body["visitor"]["referrerUrl"] = body["visitor"].pop("referrer_url")
    body["visitor"]["customFields"] = body["visitor"].pop("custom_fields")
    assert parse_livechat_webhook(body) == parse_livechat_webhook(bodies.chat_ended())


@pytest.mark.parametrize(
    "spelling", ["chat_ended", "ChatEnded", "chatEnded", "Chat Ended", "CHAT_ENDED"]
)
def test_the_event_name_is_read_in_any_spelling(spelling: str) -> None:
    assert parse_livechat_webhook(bodies.chat_ended(event=spelling)).event == CHAT_ENDED


def test_values_are_trimmed_and_empty_ones_dropped() -> None:
    body = bodies.chat_ended()
    body["visitor"] = {
        "id": VISITOR_ID,
        "name": "  Ada  ",
        "email": "   ",
        "phone": None,
        "custom_fields": [
            {"name": " Customer ID ", "value": " C-9 "},
            {"name": "Empty", "value": ""},
            {"name": "", "value": "nameless"},
        ],
        "custom_variables": [{"name": "vip", "value": None}, {"name": "age", "value": 42}],
    }
    body["chat"] = {"id": CHAT_ID, "end_time": bodies.END_TIME}
    context = parse_livechat_webhook(body).context
    assert dict(context.system) == {"name": "Ada", "visitor_id": VISITOR_ID}
    assert dict(context.prechat) == {"Customer ID": "C-9"}
    assert dict(context.custom_variables) == {"age": "42"}


def test_custom_fields_may_come_as_a_name_value_object() -> None:
    body = bodies.chat_ended()
    body["chat"]["custom_fields"] = {"First Name": "Ada"}
    assert parse_livechat_webhook(body) == parse_livechat_webhook(bodies.chat_ended())


def test_a_multi_select_answer_is_joined() -> None:
    body = bodies.chat_ended()
    body["chat"]["custom_fields"] = [{"name": "Interests", "value": ["Engines", "Looms"]}]
    assert parse_livechat_webhook(body).context.prechat["Interests"] == "Engines, Looms"


def test_a_department_object_gives_its_name() -> None:
    body = bodies.chat_ended()
    body["chat"]["department"] = {"id": 3, "name": "Billing"}
    assert parse_livechat_webhook(body).context.system["department"] == "Billing"


def test_the_sso_id_and_product_spellings_are_read() -> None:
    body = bodies.chat_ended()
    del body["visitor"]["product_service"]
    body["visitor"]["product"] = "Loom"
    body["visitor"]["sso_id"] = "sso-77"
    system = parse_livechat_webhook(body).context.system
    assert system["product_service"] == "Loom"
    assert system["sso_id"] == "sso-77"


def test_unknown_keys_are_ignored() -> None:
    body = bodies.chat_ended(extra_top={"x": 1})
    body["visitor"]["browser"] = {"name": "Firefox"}
    body["chat"]["rating"] = 5
    body["chat"]["custom_fields"][0]["extra"] = True
    assert parse_livechat_webhook(body) == parse_livechat_webhook(bodies.chat_ended())


def test_a_chat_ended_with_only_a_chat_is_read() -> None:
    body = {"event": "chat_ended", "chat": bodies.chat()}
    event = parse_livechat_webhook(body)
    assert event.context.subject_id is None
    assert event.context.subject_kind is None
    assert event.order_key == f"chat:{CHAT_ID}"
    assert event.dedupe_key == parse_livechat_webhook(bodies.chat_ended()).dedupe_key


# --- offline messages -------------------------------------------------------------------------


def test_an_offline_message_gives_its_fields_as_offline() -> None:
    event = parse_livechat_webhook(bodies.offline_message_submitted())
    assert event.event == OFFLINE_MESSAGE_SUBMITTED
    assert event.comm100_ids == {"offline_message_id": OFFLINE_ID, "visitor_id": VISITOR_ID}
    assert event.order_key == f"visitor:{VISITOR_ID}"
    context = event.context
    assert dict(context.offline) == {
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "phone": "+1 555 0100",
        "company": "Navy",
        "subject": "Compiler",
        "content": "Please call me back.",
        "department": "Support",
        "Customer ID": "C-2002",
    }
    # what the person typed in the message wins over the visitor's record
    assert context.system["email"] == "grace@example.com"
    assert context.system["city"] == "London"
    assert context.custom_variables == {"vip": "silver"}
    assert dict(context.prechat) == {}


def test_an_offline_message_is_keyed_by_its_id_and_time() -> None:
    first = parse_livechat_webhook(bodies.offline_message_submitted())
    again = bodies.offline_message_submitted()
    again["offline_message"]["time"] = 1584416000000
    assert parse_livechat_webhook(again).dedupe_key == first.dedupe_key
    other = bodies.offline_message_submitted()
    other["offline_message"]["id"] = 99
    assert parse_livechat_webhook(other).dedupe_key != first.dedupe_key


def test_an_offline_message_needs_its_message() -> None:
    with pytest.raises(WebhookShapeError, match="missing 'offline_message'"):
        parse_livechat_webhook({"event": "offline_message_submitted", "visitor": bodies.visitor()})


# --- events recorded as skipped ---------------------------------------------------------------


def test_chat_started_is_read() -> None:
    event = parse_livechat_webhook(bodies.chat_started())
    assert event.event == "chat_started"
    assert event.comm100_ids["chat_id"] == CHAT_ID
    assert event.order_key == f"visitor:{VISITOR_ID}"
    assert event.dedupe_key != parse_livechat_webhook(bodies.chat_ended()).dedupe_key


def test_chat_wrapped_up_is_read_with_the_top_level_chat_id() -> None:
    body = bodies.chat_wrapped_up()
    body["visitor"]["chat_id"] = None
    event = parse_livechat_webhook(body)
    assert event.event == "chat_wrapped_up"
    assert event.comm100_ids["chat_id"] == CHAT_ID


def test_an_unknown_event_without_ids_is_keyed_by_its_whole_body() -> None:
    online = {"event": "agent_status_changed", "agent": {"email": "a@x", "status": "online"}}
    away = {"event": "agent_status_changed", "agent": {"email": "a@x", "status": "away"}}
    first = parse_livechat_webhook(online)
    assert first.event == "agent_status_changed"
    assert first.comm100_ids == {}
    assert first.order_key == f"delivery:{first.dedupe_key}"
    assert parse_livechat_webhook(away).dedupe_key != first.dedupe_key
    assert parse_livechat_webhook(dict(reversed(online.items()))).dedupe_key == first.dedupe_key


def test_transfers_of_one_chat_are_distinct_deliveries() -> None:
    to_bob = {"event": "chat_transferred", "chat_id": CHAT_ID, "to_agent": "bob"}
    to_eve = {"event": "chat_transferred", "chat_id": CHAT_ID, "to_agent": "eve"}
    assert parse_livechat_webhook(to_bob).dedupe_key != parse_livechat_webhook(to_eve).dedupe_key


# --- what cannot be read ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "the body must be a JSON object, found a JSON list"),
        ("chat_ended", "the body must be a JSON object, found a JSON string"),
        (None, "the body must be a JSON object, found a JSON null"),
        ({}, "missing 'event'"),
        ({"visitor": {}}, "missing 'event'"),
        ({"event": 3}, "'event' must be a string, found a JSON number"),
        ({"event": " -- "}, "'event' is empty"),
        ({"event": "x" * 65}, "'event' is longer than 64 characters"),
        ({"event": "chat_ended", "visitor": "ada"}, "'visitor' must be an object"),
        ({"event": "chat_ended", "visitor": {}, "chat": [1]}, "'chat' must be an object"),
        ({"event": "chat_ended"}, "needs a 'chat' or a 'visitor' object"),
        ({"event": "chat_ended", "chat": None, "visitor": None}, "needs a 'chat' or a 'visitor'"),
        (
            {"event": "offline_message_submitted", "offline_message": 7},
            "'offline_message' must be an object",
        ),
        ({"event": "chat_ended", "chat": {"id": {"x": 1}}}, "'chat.id' must be a string or an"),
        ({"event": "chat_ended", "chat": {"id": True}}, "'chat.id' must be .* found a boolean"),
        ({"event": "chat_ended", "chat": {"id": 1.5}}, "not an integer"),
        ({"event": "chat_ended", "chat": {}, "chat_id": [1]}, "'chat_id' must be a string"),
    ],
)
def test_unreadable_bodies_are_refused_with_the_reason(body: object, message: str) -> None:
    with pytest.raises(WebhookShapeError, match=message):
        parse_livechat_webhook(body)


def test_a_body_nested_too_deeply_is_refused() -> None:
    nested: Any = "leaf"
    for _ in range(100):
        nested = {"n": nested}
    with pytest.raises(WebhookShapeError, match="nested deeper"):
        parse_livechat_webhook({"event": "agent_status_changed", "agent": nested})


def test_wrongly_typed_field_values_are_dropped_not_refused() -> None:
    body = bodies.chat_ended()
    body["visitor"]["email"] = {"primary": "x"}
    body["visitor"]["custom_fields"] = "not a list"
    body["chat"]["custom_fields"] = [1, "two", {"name": "First Name", "value": "Ada"}]
    context = parse_livechat_webhook(body).context
    assert context.system["email"] == "ada@chat.example"
    assert dict(context.prechat) == {"First Name": "Ada"}


def test_both_spellings_of_the_variables_key_in_one_object_are_read() -> None:
    body = bodies.chat_ended()
    body["chat"]["custom_variables"] = []
    body["chat"]["custom_variable"] = [{"name": "customer_id", "value": "C-1001"}]
    assert parse_livechat_webhook(body) == parse_livechat_webhook(bodies.chat_ended())
