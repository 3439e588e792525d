"""Scale-out on PostgreSQL: two `optibridge serve --no-worker` and two `optibridge worker`
processes share one database, one secret key and one Optimove API key (SPEC 4.4)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.sync.stack import chat_end_for, overwrite_site, running_stack, wait_until, worker_process

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.reliability,
    pytest.mark.postgres,
]

CUSTOMERS = 60
# The first REPEATED customers get ROUNDS events each, the others one: 100 events in all.
REPEATED = 20
ROUNDS = 3


@dataclass(frozen=True)
class Event:
    customer: str
    email: str
    visitor: str


def planned_events(customers: list[str]) -> list[Event]:
    """Round by round, so one customer's events are in flight together. Half of the repeated
    customers come back as the same Comm100 visitor (ordered by subject at claim time), half as
    a new visitor each time (ordered only by the per-customer guard)."""
    visitors = {customer: str(uuid.uuid4()) for customer in customers}
    events = []
    for round_ in range(ROUNDS):
        for index, customer in enumerate(customers if round_ == 0 else customers[:REPEATED]):
            same_visitor = index < REPEATED // 2
            visitor = visitors[customer] if same_visitor else str(uuid.uuid4())
            events.append(Event(customer, f"{customer.lower()}-r{round_}@example.com", visitor))
    return events


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_services_and_two_workers_keep_order_share_the_limit_and_lose_nothing(
    database_url: str, tmp_path: Path
) -> None:
    with (
        running_stack(
            tmp_path, serve_args=["--no-worker"], database_url=database_url, services=2
        ) as stack,
        ExitStack() as workers,
    ):
        site = overwrite_site(stack)
        customers = [stack.seed_customer(EMAIL="seeded@example.com") for _ in range(CUSTOMERS)]
        events = planned_events(customers)
        stack.optimove.delete("/_sandbox/requests").raise_for_status()
        for index in range(2):
            workers.enter_context(worker_process(stack, {}, f"worker-{index}"))

        received_by: Counter[int] = Counter()
        sent_per_customer: Counter[str] = Counter()
        for event in events:
            # A customer's consecutive events go to different serve processes.
            service = (customers.index(event.customer) + sent_per_customer[event.customer]) % 2
            sent_per_customer[event.customer] += 1
            response = stack.send(
                stack.via(site.livechat_url, service),
                chat_end_for(event.customer, event.email, event.visitor),
            )
            assert response.status_code == 202, response.text
            assert response.json()["duplicate"] is False
            received_by[service] += 1

        wait_until(
            lambda: stack.counts_by_state(site.site_id).get("done", 0) == len(events),
            150,
            "every record to be done",
        )
        records = stack.records(site.site_id)
        final = {c: (stack.customer(c) or {}).get("EMAIL") for c in customers}
        requests = stack.optimove.get("/_sandbox/requests").json()

    assert received_by == {0: len(events) // 2, 1: len(events) // 2}
    assert len(records) == len(events)
    assert {r.state for r in records} == {"done"}
    # An older event that was identified only after a later one of its customer had been
    # applied (another worker was quicker) leaves the later value alone.
    overtaken = [r for r in records if r.outcome != "updated"]
    assert all(r.outcome == "unchanged" and "a later event" in (r.reason or "") for r in overtaken)
    # Order per customer: what Optimove holds is the last event's value.
    assert final == {event.customer: event.email for event in events}
    statuses = Counter(request["status"] for request in requests)
    assert statuses.get(429, 0) == 0, statuses
    print(json.dumps({"optimove_calls": dict(statuses), "overtaken": len(overtaken)}))
