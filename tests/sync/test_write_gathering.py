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

pytestmark = [pytest.mark.integration]

UPDATE_PATH = "/Customers/UpdateCustomerAttributes"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Roomy: the test's events are all in by then; busy once 10 of the 50 calls are taken.
    env = {"OPTIBRIDGE_WRITE_GATHER_MAX_S": "5", "OPTIBRIDGE_WRITE_GATHER_BUSY_SHARE": "0.2"}
    with running_stack(tmp_path_factory.mktemp("stack"), extra_env=env) as running:
        yield running


def chat_end_of(customer_id: str) -> dict[str, Any]:
    visitor = Visitor(
        id=str(uuid.uuid4()),
        email=f"{customer_id.lower()}@example.com",
        custom_variables={"customer_id": customer_id},
    )
    now = datetime.now(UTC)
    return chat_ended(
        visitor=visitor, chat=Chat(id=str(uuid.uuid4()), start_time=now, end_time=now)
    )


def sent(stack: Stack, url: str, body: dict[str, Any]) -> int:
    response = stack.send(url, body)
    assert response.status_code == 202, response.text
    record_id: int = response.json()["id"]
    return record_id


def wait_until_taken(stack: Stack, record_id: int) -> None:
    """Until a worker has the record (it left the queue)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with stack.engine.connect() as connection:
            state = (
                connection.execute(SyncRecord.__table__.select().where(SyncRecord.id == record_id))
                .one()
                ._mapping["state"]
            )
        if state != "queued":
            return
        time.sleep(0.02)
    raise AssertionError(f"record {record_id} was never taken")


def update_calls(stack: Stack, since: float) -> list[dict[str, Any]]:
    requests = stack.optimove.get("/_sandbox/requests", params={"since": since}).json()
    return [r for r in requests if r["method"] == "POST" and r["path"].endswith(UPDATE_PATH)]


def three_chats_one_after_the_other(stack: Stack) -> list[int]:
    """The first chat's record is taken by a worker before the other two are even sent."""
    site = stack.new_site()
    customers = [stack.seed_customer(FIRST_NAME=f"C{i}") for i in range(3)]
    first = sent(stack, site.livechat_url, chat_end_of(customers[0]))
    wait_until_taken(stack, first)
    rest = [sent(stack, site.livechat_url, chat_end_of(c)) for c in customers[1:]]
    records = [stack.settled(record_id) for record_id in (first, *rest)]
    assert [r.outcome for r in records] == ["updated"] * 3, [r.last_error for r in records]
    return [first, *rest]


def test_with_budget_to_spare_a_chats_write_goes_at_once(stack: Stack) -> None:
    since = time.time()
    three_chats_one_after_the_other(stack)
    # The first went alone, before the others were sent.
    assert len(update_calls(stack, since)) >= 2


def test_while_the_budget_is_busy_writes_wait_to_share_one_call(stack: Stack) -> None:
    limiter = RateLimiter(stack.engine)
    bucket = bucket_for_api_key(OPTIMOVE_KEY)
    while limiter.free_slots(bucket) > 5:  # another process sharing the key used the rest
        limiter.take_slot(bucket, priority="live")
    since = time.time()

    three_chats_one_after_the_other(stack)

    calls = update_calls(stack, since)
    assert len(calls) == 1
    assert len(calls[0]["body"]["CustomerNewAttributesValuesList"]) == 3  # three customers
