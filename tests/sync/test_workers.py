"""Workers as separate processes: killed mid-batch, and several sharing one Optimove key."""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.sync.stack import (
    Site,
    Stack,
    chat_end_for,
    overwrite_site,
    running_stack,
    wait_until,
    worker_process,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.reliability]


def send_events(stack: Stack, site: Site, count: int) -> dict[str, str]:
    """`count` existing customers, each with one chat that changes their e-mail."""
    expected = {}
    for index in range(count):
        customer = stack.seed_customer(EMAIL=f"old{index}@example.com")
        expected[customer] = f"new{index}@example.com"
        response = stack.send(site.livechat_url, chat_end_for(customer, expected[customer]))
        assert response.status_code == 202
    return expected


@pytest.fixture
def workerless_stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The service without an in-process worker: workers are started by each test."""
    env: dict[str, str] = getattr(request, "param", {})
    with running_stack(tmp_path, serve_args=["--no-worker"], extra_env=env) as stack:
        yield stack


@pytest.mark.parametrize(
    "workerless_stack",
    [{"OPTIBRIDGE_OPTIMOVE_RATE_LIMIT": "100000", "OPTIBRIDGE_CALLBACK_TIMEOUT_S": "4"}],
    indirect=True,
)
def test_a_worker_killed_mid_batch_loses_nothing_and_applies_nothing_twice(
    workerless_stack: Stack,
) -> None:
    stack = workerless_stack
    stack.optimove.put("/_sandbox/limits", json={"requests": 100000}).raise_for_status()
    stack.optimove.put("/_sandbox/faults", json={"latency_ms": 25}).raise_for_status()
    site = overwrite_site(stack)
    expected = send_events(stack, site, 120)
    env = {
        "OPTIBRIDGE_OPTIMOVE_RATE_LIMIT": "100000",
        "OPTIBRIDGE_WORKER_BATCH_SIZE": "40",
        "OPTIBRIDGE_CALLBACK_TIMEOUT_S": "4",
        "OPTIBRIDGE_WORKER_LEASE_S": "3",
    }
    with worker_process(stack, env, "worker-killed") as first:
        wait_until(
            lambda: (
                sum(n for s, n in stack.counts_by_state(site.site_id).items() if s != "queued")
                >= 50
            ),
            60,
            "the first worker to be in the middle of its work",
        )
        first.send_signal(signal.SIGKILL)
        first.wait()
    with worker_process(stack, env, "worker-second"):
        wait_until(
            lambda: stack.counts_by_state(site.site_id).get("done", 0) == len(expected),
            120,
            "every record to be done",
        )
    assert stack.counts_by_state(site.site_id) == {"done": len(expected)}
    for customer, email in expected.items():
        assert (stack.customer(customer) or {})["EMAIL"] == email
    sent = stack.written_customers()
    assert set(sent) == set(expected)
    assert max(sent.values()) == 1, [c for c, n in sent.items() if n > 1]


def test_three_workers_sharing_one_key_never_cause_a_429(workerless_stack: Stack) -> None:
    stack = workerless_stack
    site = overwrite_site(stack)
    expected = send_events(stack, site, 120)
    with ExitStack() as workers:
        for index in range(3):
            workers.enter_context(worker_process(stack, {}, f"worker-{index}"))
        wait_until(
            lambda: stack.counts_by_state(site.site_id).get("done", 0) == len(expected),
            150,
            "every record to be done",
        )
    requests = stack.optimove.get("/_sandbox/requests").json()
    statuses = Counter(request["status"] for request in requests)
    assert statuses.get(429, 0) == 0
    for customer, email in expected.items():
        assert (stack.customer(customer) or {})["EMAIL"] == email
    print(json.dumps({"calls": len(requests), "statuses": dict(statuses)}))
