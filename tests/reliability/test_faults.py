"""Optimove and Comm100 misbehaving (errors, 429s, timeouts, late or lost callbacks): every
record ends correct or `failed` with its reason, and none is left half-way (SPEC 4.4)."""

from __future__ import annotations

import itertools
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from optibridge.sandbox.comm100.payloads import (
    OfflineMessage,
    Visitor,
    offline_message_submitted,
    ticket_created_trigger,
)
from tests.sync.stack import (
    Stack,
    chat_end_for,
    default_settings,
    running_stack,
    wait_until,
    worker_process,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.reliability]

UNFINISHED = ("queued", "working", "awaiting_callback")
_ticket_ids = itertools.count(800_000)
# Short everything, so that faults are met, retried and given up on within seconds.
SHORT_RETRIES = {
    "OPTIBRIDGE_OPTIMOVE_RATE_LIMIT": "100000",
    "OPTIBRIDGE_OPTIMOVE_RATE_WINDOW_S": "1",  # an injected 429 stops every call for 1 s
    "OPTIBRIDGE_OPTIMOVE_RATE_MARGIN_S": "0",
    "OPTIBRIDGE_OPTIMOVE_TIMEOUT_S": "1",
    "OPTIBRIDGE_OPTIMOVE_MAX_ATTEMPTS": "2",
    "OPTIBRIDGE_COMM100_RATE_LIMIT": "100000",
    "OPTIBRIDGE_COMM100_RATE_WINDOW_S": "1",
    "OPTIBRIDGE_COMM100_TIMEOUT_S": "1",
    "OPTIBRIDGE_SYNC_MAX_ATTEMPTS": "3",
    "OPTIBRIDGE_SYNC_RETRY_BASE_S": "0.2",
    "OPTIBRIDGE_SYNC_RETRY_MAX_S": "1",
    "OPTIBRIDGE_CALLBACK_TIMEOUT_S": "2",
}


@dataclass(frozen=True)
class Expectation:
    """What a record must have done to Optimove if it ends `done`."""

    record_id: int
    customer: str
    field: str
    value: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The service with its worker, and a second worker: while one waits out a timeout or a
    backoff, the other goes on."""
    with running_stack(tmp_path_factory.mktemp("faults"), extra_env=SHORT_RETRIES) as running:
        running.optimove.put("/_sandbox/limits", json={"requests": 100000}).raise_for_status()
        running.comm100.put("/_sandbox/limits", json={"requests": 100000}).raise_for_status()
        with worker_process(running, {}, "worker"):
            yield running


@pytest.fixture
def no_faults_after(stack: Stack) -> Iterator[None]:
    yield
    stack.optimove.put(
        "/_sandbox/faults",
        json={
            "error_rate": 0,
            "rate_429": 0,
            "timeout_rate": 0,
            "callback_delay_ms": 200,
            "callback_drop_rate": 0,
        },
    ).raise_for_status()
    stack.comm100.put(
        "/_sandbox/faults", json={"error_rate": 0, "rate_429": 0, "timeout_rate": 0}
    ).raise_for_status()


def accepted(stack: Stack, url: str, body: dict[str, Any]) -> int:
    response = stack.send(url, body)
    assert response.status_code == 202, response.text
    record_id: int = response.json()["id"]
    return record_id


def offline_message_for(customer_id: str, email: str) -> dict[str, Any]:
    visitor = Visitor(
        id=str(uuid.uuid4()), email=email, custom_variables={"customer_id": customer_id}
    )
    message = OfflineMessage(id=str(uuid.uuid4()), time=datetime.now(UTC), subject="Hello")
    return offline_message_submitted(visitor=visitor, offline_message=message)


def settle_and_check(stack: Stack, site_id: int, expected: list[Expectation]) -> Counter[str]:
    """Wait until nothing is unfinished; then each record is done with its effect in Optimove,
    or failed with a reason. Returns the count of each final state and outcome."""
    wait_until(
        lambda: not any(stack.counts_by_state(site_id).get(s) for s in UNFINISHED),
        120,
        "every record to be settled",
    )
    records = {record.id: record for record in stack.records(site_id)}
    assert set(records) == {e.record_id for e in expected}
    ends: Counter[str] = Counter()
    for e in expected:
        record = records[e.record_id]
        ends[f"{record.state}:{record.outcome}"] += 1
        if record.state == "failed":
            assert record.outcome == "failed"
            assert record.last_error, f"record {record.id} failed without a reason"
            continue
        assert record.state == "done", (record.id, record.state)
        customer = stack.customer(e.customer) or {}
        assert customer.get(e.field) == e.value, (record.id, record.outcome, record.reason)
    return ends


def test_optimove_errors_429s_timeouts_and_lost_callbacks_leave_no_record_half_way(
    stack: Stack, no_faults_after: None
) -> None:
    section = default_settings("", "")["livechat"]
    section["on_chat_end"] = {"update": "overwrite", "no_match": "never"}
    section["on_offline_message"] = {"update": "overwrite", "no_match": "auto_create"}
    site = stack.new_site(livechat=section)
    updates = [stack.seed_customer(EMAIL="old@example.com") for _ in range(18)]
    creations = [f"NEW-{uuid.uuid4().hex[:10]}" for _ in range(6)]
    stack.optimove.delete("/_sandbox/requests").raise_for_status()
    stack.optimove.put(
        "/_sandbox/faults",
        json={
            "error_rate": 0.2,
            "rate_429": 0.1,
            "timeout_rate": 0.1,
            "timeout_ms": 1500,  # beyond OPTIBRIDGE_OPTIMOVE_TIMEOUT_S
            "callback_delay_ms": 500,
            "callback_drop_rate": 0.5,
            "seed": 1106,  # the same faults, in the same order of arrival, every run
        },
    ).raise_for_status()

    expected = [
        Expectation(
            accepted(stack, site.livechat_url, chat_end_for(c, f"{c.lower()}@example.com")),
            c,
            "EMAIL",
            f"{c.lower()}@example.com",
        )
        for c in updates
    ] + [
        Expectation(
            accepted(stack, site.livechat_url, offline_message_for(c, f"{c.lower()}@example.com")),
            c,
            "EMAIL",
            f"{c.lower()}@example.com",
        )
        for c in creations
    ]
    ends = settle_and_check(stack, site.site_id, expected)

    statuses = Counter(r["status"] for r in stack.optimove.get("/_sandbox/requests").json())
    # The faults were met (500/503 and injected 429s), and most records got through them.
    assert statuses[429] > 0, statuses
    assert statuses[500] + statuses[503] > 0, statuses
    assert sum(n for end, n in ends.items() if end.startswith("done")) >= len(expected) // 2
    print(json.dumps({"ends": dict(ends), "optimove_statuses": dict(statuses)}))


def test_comm100_errors_and_timeouts_on_ticket_contacts_leave_no_record_half_way(
    stack: Stack, no_faults_after: None
) -> None:
    site = stack.new_site()  # tickets: overwrite, identified by the contact's "Customer ID"
    tickets = []
    for index in range(8):
        customer = stack.seed_customer(LAST_NAME="Old")
        email = f"t{index}-{uuid.uuid4().hex[:6]}@example.com"
        contact = stack.seed_contact(customer, email, f"L{index}")
        tickets.append((customer, contact, f"L{index}"))
    stack.comm100.delete("/_sandbox/requests").raise_for_status()
    stack.comm100.put(
        "/_sandbox/faults",
        json={
            "error_rate": 0.25,
            "rate_429": 0.1,
            "timeout_rate": 0.1,
            "timeout_ms": 1500,
            "seed": 1107,  # the same faults, in the same order of arrival, every run
        },
    ).raise_for_status()

    expected = [
        Expectation(
            accepted(
                stack,
                site.ticketing_url,
                ticket_created_trigger(next(_ticket_ids), contact, "contact", site_id=site.site_id),
            ),
            customer,
            "LAST_NAME",
            last_name,
        )
        for customer, contact, last_name in tickets
    ]
    ends = settle_and_check(stack, site.site_id, expected)

    statuses = Counter(r["status"] for r in stack.comm100.get("/_sandbox/requests").json())
    assert statuses[500] + statuses[503] + statuses[429] > 0, statuses
    assert sum(n for end, n in ends.items() if end.startswith("done")) >= len(expected) // 2
    print(json.dumps({"ends": dict(ends), "comm100_statuses": dict(statuses)}))


def test_a_vendor_that_stays_down_fails_each_record_with_the_reason(
    stack: Stack, no_faults_after: None
) -> None:
    site = stack.new_site()  # chats fill empty fields, tickets overwrite
    customer = stack.seed_customer(EMAIL="", LAST_NAME="Old")
    contact = stack.seed_contact(customer, f"{uuid.uuid4().hex[:8]}@example.com", "New")
    # One event while both answer: the site's attribute list is read (and kept for minutes).
    warm = stack.accept(site.livechat_url, chat_end_for(customer, "warm@example.com"))
    assert warm.outcome == "updated"
    stack.optimove.put("/_sandbox/faults", json={"error_rate": 1.0}).raise_for_status()
    stack.comm100.put("/_sandbox/faults", json={"error_rate": 1.0}).raise_for_status()
    # Customers not in the read cache: deciding needs Optimove.
    unread = [stack.seed_customer(EMAIL="") for _ in range(3)]
    chats = [
        accepted(stack, site.livechat_url, chat_end_for(c, f"new@{c}.example.com")) for c in unread
    ]
    ticket = accepted(
        stack,
        site.ticketing_url,
        ticket_created_trigger(next(_ticket_ids), contact, "contact", site_id=site.site_id),
    )
    wait_until(
        lambda: not any(stack.counts_by_state(site.site_id).get(s) for s in UNFINISHED),
        90,
        "every record to be settled",
    )
    records = {record.id: record for record in stack.records(site.site_id)}
    assert {records[i].state for i in [*chats, ticket]} == {"failed"}
    assert all(records[i].outcome == "failed" for i in [*chats, ticket])
    for record_id in chats:
        assert "gave up after 3 attempts" in (records[record_id].last_error or "")
        assert "Optimove answered HTTP 50" in (records[record_id].last_error or "")
    assert "gave up after 3 attempts" in (records[ticket].last_error or "")
    assert "Comm100" in (records[ticket].last_error or "")
    assert all((stack.customer(c) or {}).get("EMAIL") == "" for c in unread)
    assert (stack.customer(customer) or {}).get("LAST_NAME") == "Old"
