"""Past conversations read from Comm100's API for a backfill: each listed chat, offline message
or ticket becomes exactly the event its live webhook makes (same context, ids and dedupe key),
read tolerantly; what can't be replayed says why; pages end as the listing says."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from optibridge.comm100.errors import InvalidRequestError, NotComm100ApiError
from optibridge.comm100.history import (
    as_chat_ended,
    parse_page,
    read_chat,
    read_offline_message,
    read_ticket,
)
from optibridge.comm100.webhooks import parse_livechat_webhook, parse_ticket_trigger
from optibridge.sandbox.comm100 import payloads
from optibridge.sandbox.comm100.payloads import Chat, FieldAnswer, OfflineMessage, Visitor
from tests.support.vendor_samples import sample

from .fakes import answer, harness

VISITOR = "5b0e9f2a-7c1d-4e3f-8a9b-0c1d2e3f4a5b"
CHAT_GUID = "16c2cc3a-1b15-4b4f-9298-1cd04d6cec15"
MESSAGE_GUID = "58f738e3-86e5-4ce2-92da-f65ecc0d5318"
CONTACT = "6e5d4c3b-2a19-4807-b6a5-948372615049"
STARTED = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
ENDED = datetime(2026, 3, 1, 10, 12, 30, 500_000, tzinfo=UTC)
SINCE = datetime(2026, 3, 1, tzinfo=UTC)
UNTIL = datetime(2026, 3, 2, tzinfo=UTC)
VARIABLES = {"customer_id": "C1001", "vip": "Gold"}


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def live_visitor() -> Visitor:
    return Visitor(
        id=VISITOR,
        name="Ada Lovelace",
        email="ada@example.com",
        phone="+1 555 0100",
        company="Acme",
        ip="203.0.113.9",
        city="Toronto",
        state="Ontario",
        country="Canada",
        language="en-US",
        referrer_url="https://search.example/",
        landing_page="https://shop.example/",
        department="Support",
        custom_fields=[FieldAnswer(id="f1", name="First Name", value="Ada")],
        custom_variables=VARIABLES,
        sso_id="sso-77",
    )


def v4_visitor() -> dict[str, Any]:
    """The visitor as the v4 API writes it: no phone or company (those are the chat's)."""
    return {
        "id": VISITOR,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "location": {
            "ip": "203.0.113.9",
            "city": "Toronto",
            "state": "Ontario",
            "country": "Canada",
        },
        "language": "en-US",
        "referrerUrl": "https://search.example/",
        "landingPage": "https://shop.example/",
        "ssoId": "sso-77",
        "customVariables": [{"name": k, "value": v} for k, v in VARIABLES.items()],
    }


def v4_chat(**changes: Any) -> dict[str, Any]:
    chat: dict[str, Any] = {
        "id": 4242,
        "guid": CHAT_GUID,
        "sessionId": "0f1e2d3c-4b5a-4968-8776-655443322110",
        "startTime": iso(STARTED),
        "endTime": iso(ENDED),
        "status": "normal",
        "preChatName": "Ada Lovelace",
        "preChatEmail": "ada@example.com",
        "preChatPhone": "+1 555 0100",
        "preChatCompany": "Acme",
        "preChatProductService": "",
        "departmentId": "c47c5e3a-0a3b-4aa5-98ea-cec0ae5ab7b9",
        "department": {"id": "c47c5e3a-0a3b-4aa5-98ea-cec0ae5ab7b9", "name": "Support"},
        "visitorId": VISITOR,
        "chatFieldResults": [{"fieldId": "f1", "name": "First Name", "value": "Ada"}],
        "customVariableResults": [{"name": k, "value": v} for k, v in VARIABLES.items()],
        "visitor": v4_visitor(),
    }
    chat.update(changes)
    return chat


# --- the same event as the live webhook ---------------------------------------------------------


def test_a_listed_chat_is_the_chat_ended_its_webhook_makes() -> None:
    live = parse_livechat_webhook(
        payloads.chat_ended(
            visitor=live_visitor(),
            chat=Chat(id=CHAT_GUID, start_time=STARTED, end_time=ENDED, department="Support"),
        )
    )

    past = read_chat(v4_chat())

    assert past.event is not None, past.skipped
    assert past.event.context == live.context
    assert past.event.dedupe_key == live.dedupe_key
    assert past.event.comm100_ids == live.comm100_ids
    assert past.event.order_key == live.order_key
    assert past.event.conversation_key == live.conversation_key == f"chat:{CHAT_GUID}"
    assert (past.kind, past.source_id, past.occurred_at) == ("chat", "4242", ENDED)


def test_a_chat_without_a_guid_is_known_by_its_id() -> None:
    past = read_chat(v4_chat(guid=None))

    assert past.event is not None
    assert past.event.conversation_key == "chat:4242"


def test_a_listed_offline_message_is_the_one_its_webhook_makes() -> None:
    submitted = datetime(2026, 3, 1, 18, 5, 7, 250_000, tzinfo=UTC)
    # An offline message has its own form's answers; no pre-chat form was filled.
    visitor = replace(live_visitor(), custom_fields=())
    live = parse_livechat_webhook(
        payloads.offline_message_submitted(
            visitor=visitor,
            offline_message=OfflineMessage(
                id=MESSAGE_GUID,
                time=submitted,
                subject="Refund",
                content="Where is my refund?",
                phone="+1 555 0100",
                company="Acme",
                custom_fields=[FieldAnswer(id="f1", name="First Name", value="Ada")],
            ),
        )
    )
    message = {
        "id": 1148,
        "guid": MESSAGE_GUID,
        "createdTime": iso(submitted),
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+1 555 0100",
        "company": "Acme",
        "subject": "Refund",
        "message": "Where is my refund?",
        "visitorId": VISITOR,
        "department": {"name": "Support"},
        "offlineMessageFieldResults": [{"field": {"name": "First Name"}, "value": "Ada"}],
        "customVariables": [{"name": k, "value": v} for k, v in VARIABLES.items()],
        "visitor": v4_visitor(),
    }

    past = read_offline_message(message)

    assert past.event is not None, past.skipped
    assert past.event.context == live.context
    assert past.event.dedupe_key == live.dedupe_key
    assert past.event.comm100_ids == live.comm100_ids
    assert past.event.conversation_key == f"offline_message:{MESSAGE_GUID}"
    assert past.occurred_at == submitted


@pytest.mark.parametrize("requester", ["contact", "visitor"])
def test_a_listed_ticket_is_the_ticket_created_its_trigger_makes(requester: str) -> None:
    live = parse_ticket_trigger(
        payloads.ticket_created_trigger(539, CONTACT, requester, style="camel")  # type: ignore[arg-type]
    )
    ticket = {
        "id": 539,
        "subject": "Broken",
        "channelId": "email",
        "status": "new",
        "priority": "normal",
        "contactOrVisitorId": CONTACT,
        "contactOrVisitorType": requester,
        "createdTime": "2026-03-01T09:00:00Z",
    }

    past = read_ticket(ticket)

    assert past.event is not None, past.skipped
    assert past.event.context == live.context
    assert past.event.dedupe_key == live.dedupe_key
    assert past.event.order_key == live.order_key
    assert past.event.conversation_key == "ticket:539"
    assert past.occurred_at == datetime(2026, 3, 1, 9, tzinfo=UTC)


# --- tolerance ----------------------------------------------------------------------------------


def test_casing_and_missing_parts_are_tolerated() -> None:
    chat = {
        "ID": "4243",
        "EndTime": "/Date(1772359950500)/",
        "PreChatEmail": "bob@example.com",
        "VisitorID": VISITOR,
        "CustomVariables": {"customer_id": "C7"},
    }

    past = read_chat(chat)

    assert past.event is not None, past.skipped
    context = past.event.context
    assert context.system["email"] == "bob@example.com"
    assert context.custom_variables == {"customer_id": "C7"}
    assert context.subject_id == VISITOR
    assert past.event.comm100_ids == {"chat_id": "4243", "visitor_id": VISITOR}
    assert past.event.order_key == f"visitor:{VISITOR}"


def test_as_chat_ended_leaves_out_what_the_chat_does_not_say() -> None:
    body = as_chat_ended({"id": 1, "endTime": "2026-03-01T10:00:00Z"})

    assert body["visitor"] == {}
    assert body["chat"]["department"] is None
    assert body["chat"]["custom_fields"] == []


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"endTime": None}, "the chat has not ended"),
        ({"status": "missed"}, "the chat was missed"),
        ({"status": "refused"}, "the chat was refused"),
        ({"guid": None, "id": None}, "it has no id"),
        ({"guid": None, "id": {"not": "an id"}}, "it can't be read"),
    ],
)
def test_a_chat_that_cant_be_replayed_says_why(changes: dict[str, Any], why: str) -> None:
    past = read_chat(v4_chat(**changes))

    assert past.event is None
    assert past.skipped is not None
    assert past.skipped.startswith(why)


# --- pages --------------------------------------------------------------------------------------


def test_the_published_search_envelope_is_read() -> None:
    """The documented answer of Live Chat's `:search` endpoints (here, agent private messages:
    an entry without an end, so nothing to replay): one entry of one in all."""
    page = parse_page(
        sample("comm100", "livechat_search_response"),
        "chat",
        page_index=1,
        page_size=50,
    )

    assert [(i.source_id, i.skipped) for i in page.items] == [("5", "the chat has not ended")]
    assert (page.total, page.more) == (1, False)


@pytest.mark.parametrize(
    ("body", "page_index", "more"),
    [
        ({"list": [v4_chat()] * 2, "total": 5}, 1, True),
        ({"list": [v4_chat()] * 2, "total": 5}, 3, False),
        ({"chats": [v4_chat()] * 2}, 1, True),  # no total: a full page may have a next
        ([v4_chat()], 1, False),  # bare and short
        ({"data": []}, 1, False),
    ],
)
def test_a_page_knows_whether_another_follows(body: Any, page_index: int, more: bool) -> None:
    page = parse_page(body, "chat", page_index=page_index, page_size=2)

    assert page.more is more


def test_a_total_that_is_no_count_is_ignored() -> None:
    page = parse_page({"list": [], "total": "many"}, "chat", page_index=1, page_size=2)

    assert page.total is None


# --- the client's calls -------------------------------------------------------------------------


def test_chats_are_searched_by_time_a_page_at_a_time() -> None:
    h = harness(answer(200, {"list": [v4_chat()], "total": 1}))

    page = h.client.past_conversations("chat", SINCE, UNTIL, page_index=2, page_size=25)

    assert [i.event is not None for i in page.items] == [True]
    [request] = h.requests
    assert (request.method, request.url.path) == ("POST", "/v4/livechat/chats:search")
    params = request.url.params
    assert (params["siteId"], params["pageIndex"], params["pageSize"]) == ("10000", "2", "25")
    assert params.get_list("include") == ["visitor", "department", "chatFieldResult"]
    assert (params["sortBy"], params["sortOrder"]) == ("startTime", "asc")
    assert json.loads(request.content) == {
        "filters": [
            {
                "name": "time",
                "operator": "is",
                "value": ["2026-03-01T00:00:00.000Z", "2026-03-02T00:00:00.000Z"],
            }
        ]
    }
    # The shape of the published sample's time filter.
    published = sample("comm100", "livechat_search_request")["filters"][0]
    assert published.keys() == json.loads(request.content)["filters"][0].keys()


def test_offline_messages_are_searched_with_their_includes() -> None:
    h = harness(answer(200, {"list": []}))

    h.client.past_conversations("offline_message", SINCE, UNTIL)

    [request] = h.requests
    assert request.url.path == "/v4/livechat/offlineMessages:search"
    assert request.url.params.get_list("include") == [
        "visitor",
        "department",
        "offlineMessageFieldResult",
    ]


def test_tickets_are_listed_by_creation_time() -> None:
    h = harness(answer(200, {"tickets": [], "total": 0}))

    page = h.client.past_conversations("ticket", SINCE, UNTIL)

    assert (page.items, page.more) == ((), False)
    [request] = h.requests
    assert (request.method, request.url.path) == ("GET", "/v4/ticketing/tickets")
    params = request.url.params
    assert (params["timeFrom"], params["timeTo"]) == (
        "2026-03-01T00:00:00.000Z",
        "2026-03-02T00:00:00.000Z",
    )


def test_an_answer_that_is_no_listing_is_not_comm100() -> None:
    h = harness(answer(200, {"list": "nope"}))

    with pytest.raises(NotComm100ApiError, match="the chats"):
        h.client.past_conversations("chat", SINCE, UNTIL)


def test_a_refused_search_says_so() -> None:
    h = harness(lambda _: httpx.Response(400, json={"code": 400, "message": "bad include"}))

    with pytest.raises(InvalidRequestError, match="bad include"):
        h.client.past_conversations("chat", SINCE, UNTIL)


def test_pages_count_from_one() -> None:
    h = harness(answer(200, []))

    with pytest.raises(ValueError, match="from 1"):
        h.client.past_conversations("chat", SINCE, UNTIL, page_index=0)


def test_only_the_events_acted_on_conclude_a_conversation() -> None:
    visitor = live_visitor()
    started = parse_livechat_webhook(payloads.chat_started(visitor=visitor, chat_id=CHAT_GUID))
    ticket = parse_ticket_trigger(payloads.ticket_created_trigger(7, CONTACT, "contact"))

    assert started.conversation_key is None
    assert ticket.conversation_key == "ticket:7"
