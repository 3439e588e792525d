"""kill -9 at any moment loses no accepted event and applies none twice (SPEC 4.4): 2,000 events
while workers are SIGKILLed one after another and replaced, on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.sync.stack import (
    Stack,
    chat_end_for,
    overwrite_site,
    running_stack,
    wait_until,
    worker_process,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.reliability]

EVENTS = 2000
KILL_EVERY_S = 5.0
# The budget is not what is under test here: a generous limit (over a short window, so the
# limiter's log of send times stays small) lets 2,000 events drain in seconds.
FAST = {
    "OPTIBRIDGE_OPTIMOVE_RATE_LIMIT": "100000",
    "OPTIBRIDGE_OPTIMOVE_RATE_WINDOW_S": "1",
    "OPTIBRIDGE_OPTIMOVE_RATE_MARGIN_S": "0",
    "OPTIBRIDGE_WORKER_BATCH_SIZE": "50",
    # A dead worker's records come back after 2 s, a write it left unconfirmed is read back
    # after 4 s.
    "OPTIBRIDGE_WORKER_LEASE_S": "2",
    "OPTIBRIDGE_CALLBACK_TIMEOUT_S": "4",
}


def seed_and_send(stack: Stack, livechat_url: str, count: int) -> dict[str, str]:
    """`count` existing customers, each with one chat that changes their e-mail, sent by 8
    concurrent clients; returns customer → the e-mail it must end with."""

    def one(index: int) -> tuple[str, str]:
        customer = stack.seed_customer(EMAIL=f"old{index}@example.com")
        email = f"new{index}@example.com"
        response = stack.send(livechat_url, chat_end_for(customer, email))
        assert response.status_code == 202, response.text
        return customer, email

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(pool.map(one, range(count)))


def test_workers_killed_again_and_again_lose_nothing_and_apply_nothing_twice(
    database_url: str, tmp_path: Path
) -> None:
    with (
        running_stack(
            tmp_path, serve_args=["--no-worker"], database_url=database_url, extra_env=FAST
        ) as stack,
        ExitStack() as workers,
    ):
        stack.optimove.put("/_sandbox/limits", json={"requests": 1_000_000}).raise_for_status()
        site = overwrite_site(stack)
        expected = seed_and_send(stack, site.livechat_url, EVENTS)
        started = time.monotonic()
        names = (f"worker-{n}" for n in itertools.count())
        alive: list[subprocess.Popen[bytes]] = [
            workers.enter_context(worker_process(stack, {}, next(names))) for _ in range(2)
        ]
        kills = 0

        def all_done() -> bool:
            return stack.counts_by_state(site.site_id).get("done", 0) == EVENTS

        while not all_done():
            assert time.monotonic() - started < 120, stack.counts_by_state(site.site_id)
            time.sleep(KILL_EVERY_S)
            if stack.counts_by_state(site.site_id).get("queued", 0) == 0 and kills >= 3:
                continue  # the last records are settling: let the survivors finish
            victim = alive.pop(0)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            kills += 1
            alive.append(workers.enter_context(worker_process(stack, {}, next(names))))
        wait_until(all_done, 60, "every record to be done")
        elapsed = time.monotonic() - started
        counts = stack.counts_by_state(site.site_id)
        final = {customer: (stack.customer(customer) or {}).get("EMAIL") for customer in expected}
        sent = stack.written_customers()

    assert kills >= 3
    assert counts == {"done": EVENTS}
    assert final == expected
    # Each customer's change went out in exactly one update call that Optimove accepted.
    assert set(sent) == set(expected)
    assert max(sent.values()) == 1, [customer for customer, n in sent.items() if n > 1]
    print(json.dumps({"events": EVENTS, "kills": kills, "seconds": round(elapsed, 1)}))
