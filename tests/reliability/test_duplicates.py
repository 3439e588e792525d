"""The same delivery three times, one after another or all at once, through two serve processes:
one record, applied once (SPEC 4.4, 5.3)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from optibridge.sandbox.comm100.payloads import ticket_created_trigger
from tests.sync.stack import Stack, chat_end_for, overwrite_site, running_stack, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.reliability]

DELIVERIES = 3
_ticket_ids = itertools.count(900_000)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Two serve processes on one SQLite database, each with its worker.
    with running_stack(tmp_path_factory.mktemp("duplicates"), services=2) as running:
        yield running


def deliver_one_after_another(stack: Stack, urls: list[str], body: Any) -> list[httpx.Response]:
    return [stack.send(urls[n % len(urls)], body) for n in range(DELIVERIES)]


def deliver_at_once(stack: Stack, urls: list[str], body: Any) -> list[httpx.Response]:
    start = threading.Barrier(DELIVERIES)

    def deliver(n: int) -> httpx.Response:
        with httpx.Client(timeout=30) as client:
            start.wait()
            return client.post(urls[n % len(urls)], json=body)

    with ThreadPoolExecutor(max_workers=DELIVERIES) as pool:
        return list(pool.map(deliver, range(DELIVERIES)))


def one_record(responses: list[httpx.Response]) -> int:
    """All deliveries accepted as one record: the first stored it, the others are duplicates."""
    assert [r.status_code for r in responses] == [202] * DELIVERIES
    answers = [r.json() for r in responses]
    assert len({a["id"] for a in answers}) == 1, answers
    assert sorted(a["duplicate"] for a in answers) == [False] + [True] * (DELIVERIES - 1)
    record_id: int = answers[0]["id"]
    return record_id


@pytest.mark.parametrize("deliver", [deliver_one_after_another, deliver_at_once])
def test_each_event_delivered_three_times_is_one_record_applied_once(
    stack: Stack, deliver: Any
) -> None:
    site = overwrite_site(stack)
    urls = [stack.via(site.livechat_url, n) for n in range(2)]
    ticket_urls = [stack.via(site.ticketing_url, n) for n in range(2)]
    chats = {stack.seed_customer(EMAIL="old@example.com"): f"new{n}@example.com" for n in range(8)}
    tickets = {}
    for n in range(4):
        customer = stack.seed_customer(LAST_NAME="Old")
        tickets[customer] = stack.seed_contact(customer, f"dup{n}-{customer}@example.com", f"L{n}")

    records = [
        one_record(deliver(stack, urls, chat_end_for(customer, email)))
        for customer, email in chats.items()
    ] + [
        one_record(
            deliver(
                stack,
                ticket_urls,
                ticket_created_trigger(next(_ticket_ids), contact, "contact", site_id=site.site_id),
            )
        )
        for contact in tickets.values()
    ]
    wait_until(
        lambda: stack.counts_by_state(site.site_id).get("done", 0) == len(records),
        60,
        "every record to be done",
    )

    assert sorted(record.id for record in stack.records(site.site_id)) == sorted(records)
    for customer, email in chats.items():
        assert (stack.customer(customer) or {}).get("EMAIL") == email
    for n, customer in enumerate(tickets):
        assert (stack.customer(customer) or {}).get("LAST_NAME") == f"L{n}"
    sent = stack.written_customers()
    assert {customer: sent[customer] for customer in [*chats, *tickets]} == dict.fromkeys(
        [*chats, *tickets], 1
    )
