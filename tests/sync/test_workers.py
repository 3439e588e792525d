"""Workers as separate processes: killed mid-batch, and several sharing one Optimove key."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from optibridge.sandbox.comm100_payloads import Chat, Visitor, chat_ended
from optibridge.store.models import SyncRecord
from tests.support.processes import optibridge_command
from tests.sync.stack import Site, Stack, default_settings, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.reliability]


def overwrite_site(stack: Stack) -> Site:
    section = default_settings("", "")["livechat"]
    section["on_chat_end"] = {"update": "overwrite", "no_match": "never"}
    return stack.new_site(livechat=section)


def chat_end_for(customer_id: str, email: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    visitor = Visitor(
        id=str(uuid.uuid4()), email=email, custom_variables={"customer_id": customer_id}
    )
    return chat_ended(
        visitor=visitor, chat=Chat(id=str(uuid.uuid4()), start_time=now, end_time=now)
    )


def send_events(stack: Stack, site: Site, count: int) -> dict[str, str]:
    """`count` existing customers, each with one chat that changes their e-mail."""
    expected = {}
    for index in range(count):
        customer = stack.seed_customer(EMAIL=f"old{index}@example.com")
        expected[customer] = f"new{index}@example.com"
        response = stack.send(site.livechat_url, chat_end_for(customer, expected[customer]))
        assert response.status_code == 202
    return expected


@contextmanager
def worker_process(
    stack: Stack, env: dict[str, str], name: str
) -> Iterator[subprocess.Popen[bytes]]:
    """An `optibridge worker` process, stopped (if still alive) when the block ends."""
    with open(stack.log_dir / f"{name}.log", "wb") as log:
        process = subprocess.Popen(
            optibridge_command("worker"),
            env={**stack_env(stack), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
            process.wait(timeout=30)


def stack_env(stack: Stack) -> dict[str, str]:
    return {
        **os.environ,
        "OPTIBRIDGE_DATA_DIR": str(stack.log_dir),
        "OPTIBRIDGE_PUBLIC_URL": stack.service_url,
        "OPTIBRIDGE_WORKER_POLL_S": "0.05",
        "OPTIBRIDGE_LOG_FORMAT": "json",
    }


def counts_by_state(stack: Stack, site_id: int) -> dict[str, int]:
    with stack.engine.connect() as connection:
        rows = connection.execute(
            select(SyncRecord.state, func.count())
            .where(SyncRecord.site_id == site_id)
            .group_by(SyncRecord.state)
        ).all()
    return {state: count for state, count in rows}


def wait_until(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def written_customers(stack: Stack) -> Counter[str]:
    """How many times each customer was sent in an update call."""
    sent: Counter[str] = Counter()
    for request in stack.optimove.get("/_sandbox/requests").json():
        body = request.get("body") or {}
        if request["status"] == 200 and "CustomerNewAttributesValuesList" in body:
            sent.update(entry["CustomerID"] for entry in body["CustomerNewAttributesValuesList"])
    return sent


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
                sum(n for s, n in counts_by_state(stack, site.site_id).items() if s != "queued")
                >= 50
            ),
            60,
            "the first worker to be in the middle of its work",
        )
        first.send_signal(signal.SIGKILL)
        first.wait()
    with worker_process(stack, env, "worker-second"):
        wait_until(
            lambda: counts_by_state(stack, site.site_id).get("done", 0) == len(expected),
            120,
            "every record to be done",
        )
    assert counts_by_state(stack, site.site_id) == {"done": len(expected)}
    for customer, email in expected.items():
        assert (stack.customer(customer) or {})["EMAIL"] == email
    sent = written_customers(stack)
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
            lambda: counts_by_state(stack, site.site_id).get("done", 0) == len(expected),
            150,
            "every record to be done",
        )
    requests = stack.optimove.get("/_sandbox/requests").json()
    statuses = Counter(request["status"] for request in requests)
    assert statuses.get(429, 0) == 0
    for customer, email in expected.items():
        assert (stack.customer(customer) or {})["EMAIL"] == email
    print(json.dumps({"calls": len(requests), "statuses": dict(statuses)}))
