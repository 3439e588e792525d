"""Writes gathered under pressure (SPEC 4.6, issue "Agents first"): while Optimove's budget is
busy, a round's updates wait a bounded time for the events that arrive meanwhile and share one
UpdateCustomerAttributes call; with budget to spare each goes at once. Over real HTTP; the budget
is made busy by taking slots of the site's key in the stack's own database, as another process
sharing the key would."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from optibridge.optimove.client import bucket_for_api_key
from optibridge.sandbox.comm100.payloads import Chat, Visitor, chat_ended
from optibridge.store.limiter import RateLimiter
from optibridge.store.models import SyncRecord
from tests.sync.stack import OPTIMOVE_KEY, Stack, running_stack
from tests.sync.test_conversation_read import look_up

pytestmark = [pytest.mark.integration]

UPDATE_PATH = "/Customers/UpdateCustomerAttributes"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Roomy: the test's events are all in by then; busy once 10 of the 50 calls are taken.
    env = {"OPTIBRIDGE_WRITE_GATHER_MAX_S": "5", "OPTIBRIDGE_WRITE_GATHER_BUSY_SHARE": "0.2"}
    with running_stack(tmp_path_factory.mktemp("stack"), extra_env=env) as running:
        yield running


def chat_end_of(customer_id: str, chat_id: str | None = None) -> dict[str, Any]:
    visitor = Visitor(
        id=str(uuid.uuid4()),
        email=f"{customer_id.lower()}@example.com",
        custom_variables={"customer_id": customer_id},
    )
    now = datetime.now(UTC)
    return chat_ended(
        visitor=visitor, chat=Chat(id=chat_id or str(uuid.uuid4()), start_time=now, end_time=now)
    )


def sent(stack: Stack, url: str, body: dict[str, Any]) -> int:
    response = stack.send(url, body)
    assert response.status_code == 202, response.text
    record_id: int = response.json()["id"]
    return record_id


def wait_until_taken(stack: Stack, record_id: int, *, past: tuple[str, ...] = ("queued",)) -> None:
    """Until a worker has the record (it left the queue), or it left the states `past`."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with stack.engine.connect() as connection:
            state = (
                connection.execute(SyncRecord.__table__.select().where(SyncRecord.id == record_id))
                .one()
                ._mapping["state"]
            )
        if state not in past:
            return
        time.sleep(0.02)
    raise AssertionError(f"record {record_id} never left {', '.join(past)}")


def update_calls(stack: Stack, since: float) -> list[dict[str, Any]]:
    requests = stack.optimove.get("/_sandbox/requests", params={"since": since}).json()
    return [r for r in requests if r["method"] == "POST" and r["path"].endswith(UPDATE_PATH)]


def three_chats_one_after_the_other(stack: Stack, *, wait_for: tuple[str, ...]) -> list[int]:
    """The first chat's record leaves the states `wait_for` before the other two are sent."""
    site = stack.new_site()
    customers = [stack.seed_customer(FIRST_NAME=f"C{i}") for i in range(3)]
    first = sent(stack, site.livechat_url, chat_end_of(customers[0]))
    wait_until_taken(stack, first, past=wait_for)
    rest = [sent(stack, site.livechat_url, chat_end_of(c)) for c in customers[1:]]
    records = [stack.settled(record_id) for record_id in (first, *rest)]
    assert [r.outcome for r in records] == ["updated"] * 3, [r.last_error for r in records]
    return [first, *rest]


def test_with_budget_to_spare_a_chats_write_goes_at_once(stack: Stack) -> None:
    since = time.time()
    # Its write is sent (the record waits for the callback) before the others are.
    three_chats_one_after_the_other(stack, wait_for=("queued", "working"))
    assert len(update_calls(stack, since)) >= 2


def test_while_the_budget_is_busy_writes_wait_to_share_one_call(stack: Stack) -> None:
    limiter = RateLimiter(stack.engine)
    bucket = bucket_for_api_key(OPTIMOVE_KEY)
    while limiter.free_slots(bucket) > 5:  # another process sharing the key used the rest
        limiter.take_slot(bucket, priority="live")
    since = time.time()

    three_chats_one_after_the_other(stack, wait_for=("queued",))  # taken: its round began

    calls = update_calls(stack, since)
    assert len(calls) == 1
    assert len(calls[0]["body"]["CustomerNewAttributesValuesList"]) == 3  # three customers


def test_while_an_agent_has_a_chat_open_a_write_waits_for_its_end(stack: Stack) -> None:
    """The budget has room, but the chat open in the tab will end: the other chat's write waits
    for it, and both go in one call as soon as it ended."""
    site = stack.new_site()
    open_chat, customers = (
        str(uuid.uuid4()),
        [stack.seed_customer(FIRST_NAME=f"O{i}") for i in (0, 1)],
    )
    look_up(stack, site.site_id, open_chat, customers[0])
    since = time.time()

    other = sent(stack, site.livechat_url, chat_end_of(customers[1]))
    wait_until_taken(stack, other)
    last = sent(stack, site.livechat_url, chat_end_of(customers[0], open_chat))

    records = [stack.settled(record_id) for record_id in (other, last)]
    assert [r.outcome for r in records] == ["updated"] * 2, [r.last_error for r in records]
    calls = update_calls(stack, since)
    assert len(calls) == 1
    assert len(calls[0]["body"]["CustomerNewAttributesValuesList"]) == 2
