"""The client reads past conversations from the Comm100 sandbox over real HTTP: every page of a
period, each chat, offline message and ticket as the event its webhook would have made."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from optibridge.comm100.history import PastConversation
from optibridge.comm100.webhooks import parse_livechat_webhook
from optibridge.sandbox.comm100 import payloads
from optibridge.sandbox.comm100.payloads import Chat, FieldAnswer, Visitor
from optibridge.store.limiter import RateLimiter

from .conftest import Sandbox
from .test_client_sandbox import make_client

pytestmark = pytest.mark.integration

VISITOR = "0a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d"
SINCE = datetime(2026, 3, 1, tzinfo=UTC)
UNTIL = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def limiter(sqlite_engine: Engine) -> RateLimiter:
    return RateLimiter(sqlite_engine, limit=300, window_s=300, margin_s=1)


def seeded_chat(number: int, **changes: Any) -> dict[str, Any]:
    return {
        "guid": f"16c2cc3a-1b15-4b4f-9298-{number:012d}",
        "startTime": f"2026-03-01T{number:02d}:00:00Z",
        "endTime": f"2026-03-01T{number:02d}:10:00.250Z",
        "preChatEmail": f"visitor{number}@example.com",
        "department": "Support",
        "visitor": {
            "id": VISITOR,
            "name": "Ada",
            "customVariables": [{"name": "customer_id", "value": f"C{number}"}],
        },
        "chatFieldResults": [{"name": "First Name", "value": "Ada"}],
        **changes,
    }


def every_page(client: Any, kind: str, page_size: int) -> list[PastConversation]:
    items: list[PastConversation] = []
    for index in range(1, 20):
        page = client.past_conversations(kind, SINCE, UNTIL, page_index=index, page_size=page_size)
        items.extend(page.items)
        if not page.more:
            return items
    raise AssertionError("the listing never ended")


def test_every_chat_of_the_period_is_read_page_by_page(
    sandbox: Sandbox, limiter: RateLimiter
) -> None:
    for number in range(1, 8):
        sandbox.control("PUT", f"chats/{number}", seeded_chat(number))
    sandbox.control("PUT", "chats/8", seeded_chat(8, endTime=None))
    sandbox.control(
        "PUT", "chats/9", seeded_chat(9, startTime="2026-03-03T00:00:00Z", endTime=None)
    )

    with make_client(sandbox.api_base_url, limiter) as client:
        items = every_page(client, "chat", page_size=3)

    assert [i.source_id for i in items] == [str(n) for n in range(1, 9)]
    assert [i.skipped for i in items][-1] == "the chat has not ended"
    first = items[0].event
    assert first is not None
    live = parse_livechat_webhook(
        payloads.chat_ended(
            visitor=Visitor(
                id=VISITOR,
                name="Ada",
                email="visitor1@example.com",
                department="Support",
                custom_fields=[FieldAnswer(id="x", name="First Name", value="Ada")],
                custom_variables={"customer_id": "C1"},
            ),
            chat=Chat(
                id="16c2cc3a-1b15-4b4f-9298-000000000001",
                start_time=datetime(2026, 3, 1, 1, tzinfo=UTC),
                end_time=datetime(2026, 3, 1, 1, 10, 0, 250_000, tzinfo=UTC),
            ),
        )
    )
    assert first.dedupe_key == live.dedupe_key
    assert first.context == live.context
    paths = {r["path"] for r in sandbox.requests()}
    assert paths == {"/v4/livechat/chats:search"}


def test_offline_messages_and_tickets_are_read(sandbox: Sandbox, limiter: RateLimiter) -> None:
    sandbox.control(
        "PUT",
        "offline-messages/1148",
        {
            "guid": "58f738e3-86e5-4ce2-92da-f65ecc0d5318",
            "createdTime": "2026-03-01T18:05:07Z",
            "email": "ada@example.com",
            "visitor": {"id": VISITOR},
            "customVariables": [{"name": "customer_id", "value": "C1"}],
        },
    )
    sandbox.control(
        "PUT",
        "tickets/539",
        {
            "contactOrVisitorId": VISITOR,
            "contactOrVisitorType": "visitor",
            "createdTime": "2026-03-01T09:00:00Z",
        },
    )

    with make_client(sandbox.api_base_url, limiter) as client:
        [message] = every_page(client, "offline_message", page_size=10)
        [ticket] = every_page(client, "ticket", page_size=10)

    assert message.event is not None
    assert message.event.context.custom_variables == {"customer_id": "C1"}
    assert message.event.conversation_key == "offline_message:58f738e3-86e5-4ce2-92da-f65ecc0d5318"
    assert ticket.event is not None
    assert ticket.event.context.requester_is_visitor
    assert ticket.event.conversation_key == "ticket:539"
