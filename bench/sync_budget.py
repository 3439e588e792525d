"""How much of Optimove's budget bursts of events cost, for every update strategy, beside the
fewest calls the API allows for that work and beside the naive one-read-one-write design.

    .venv/bin/python -m bench.sync_budget                         # 1,000 and 10,000 events
    .venv/bin/python -m bench.sync_budget --events 1000 --scenarios fill_empty

Each scenario runs against its own stack (the service with its in-process worker, and both
sandboxes, each a separate process; SQLite), all scenarios at once, so one run compares them
side by side. The Optimove sandbox enforces the real limit, 50 calls per 10 s per key, so the
time to drain is bounded by it: beside it stands the least time the limit allows for the calls
made. A burst is N `chat_ended` webhooks for N different customers (a cold cache: the worst case
for reads), each carrying a phone number:

- `none`: existing customers, `update: none` — nothing to write.
- `overwrite`: existing customers whose phone differs — one field to write each.
- `fill_empty`: existing customers whose phone is empty — one field to write each.
- `create`: customers Optimove does not have, `no_match: auto_create` — one creation each.

The API minimum for this work, under SPEC 4: one read per customer (Optimove has no bulk read,
and a decision needs the customer's current values: "matched" or not, which fields are empty or
differ, old → new for the log), one UpdateCustomerAttributes per 1,000 customers to change, and
one UpsertCustomer per customer to create (it takes one). The naive design reads and writes once
per event that writes (and only reads for `none`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from tests.sync.stack import Stack, default_settings, running_stack

from optibridge.sandbox.comm100.payloads import Chat, Visitor, chat_ended
from optibridge.store.models import SyncRecord

LIMIT_PER_WINDOW = 50
WINDOW_S = 10.0
CUSTOMERS_PER_UPDATE = 1000
SCENARIOS = ("none", "overwrite", "fill_empty", "create")
EXPECTED_OUTCOME = {
    "none": "unchanged",
    "overwrite": "updated",
    "fill_empty": "updated",
    "create": "created",
}


@dataclass(frozen=True)
class Result:
    scenario: str
    events: int
    reads: int
    updates: int
    upserts: int
    other_calls: int
    minimum_calls: int
    naive_calls: int
    too_many_requests: int
    accepted_s: float
    drained_s: float
    outcomes: dict[str, int]
    webhook_p50_ms: float
    webhook_p99_ms: float

    @property
    def calls(self) -> int:
        return self.reads + self.updates + self.upserts + self.other_calls


def least_time_s(calls: int) -> float:
    """A sliding window of 50 per 10 s lets 50 calls go at once, then 50 more every 10 s."""
    return max(0, math.ceil(calls / LIMIT_PER_WINDOW) - 1) * WINDOW_S


def minimum_calls(scenario: str, events: int) -> int:
    reads = events  # one per customer: no bulk read exists
    if scenario == "none":
        return reads
    if scenario == "create":
        return reads + events
    return reads + math.ceil(events / CUSTOMERS_PER_UPDATE)


def naive_calls(scenario: str, events: int) -> int:
    return events if scenario == "none" else 2 * events


def run_scenario(scenario: str, events: int, progress: Callable[[str], None]) -> Result:
    label = f"{scenario}/{events}"
    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp)) as stack:
        section = default_settings("", "")["livechat"]
        update = "fill_empty" if scenario == "create" else scenario
        no_match = "auto_create" if scenario == "create" else "never"
        section["on_chat_end"] = {"update": update, "no_match": no_match}
        site = stack.new_site(livechat=section)
        old_phone = "+1 555 0000" if scenario == "overwrite" else ""
        if scenario == "create":
            customers = [f"NEW-{uuid.uuid4().hex[:12]}" for _ in range(events)]
        else:
            customers = [
                stack.seed_customer(EMAIL=f"c{i}@example.com", PHONE=old_phone)
                for i in range(events)
            ]
        stack.optimove.delete("/_sandbox/requests").raise_for_status()
        progress(f"{label}: {events} customers ready, sending webhooks")

        started = time.monotonic()
        latencies = []
        for index, customer in enumerate(customers):
            sent = time.perf_counter()
            response = stack.send(site.livechat_url, _chat_end(customer, f"+1 666 {index:05d}"))
            latencies.append(time.perf_counter() - sent)
            assert response.status_code == 202, response.text
        accepted_s = time.monotonic() - started
        progress(f"{label}: accepted in {accepted_s:.1f} s, draining")
        expected_calls = minimum_calls(scenario, events)
        _wait_until_settled(
            stack,
            site.site_id,
            events,
            timeout_s=least_time_s(expected_calls) * 1.5 + 300,
            progress=lambda settled: progress(f"{label}: {settled}/{events} settled"),
        )
        drained_s = time.monotonic() - started

        requests = stack.optimove.get("/_sandbox/requests").json()
        by_endpoint = Counter(_endpoint(r["method"], r["path"]) for r in requests)
        statuses = Counter(r["status"] for r in requests)
        outcomes = _outcomes(stack, site.site_id)

    latencies.sort()
    reads = by_endpoint.pop("read", 0)
    updates = by_endpoint.pop("update", 0)
    upserts = by_endpoint.pop("upsert", 0)
    return Result(
        scenario=scenario,
        events=events,
        reads=reads,
        updates=updates,
        upserts=upserts,
        other_calls=sum(by_endpoint.values()),
        minimum_calls=expected_calls,
        naive_calls=naive_calls(scenario, events),
        too_many_requests=statuses.get(429, 0),
        accepted_s=accepted_s,
        drained_s=drained_s,
        outcomes=outcomes,
        webhook_p50_ms=latencies[len(latencies) // 2] * 1000,
        webhook_p99_ms=latencies[int(len(latencies) * 0.99)] * 1000,
    )


def print_table(results: list[Result]) -> None:
    table = Table(title="Optimove calls for bursts of chat_ended events (cold cache, 50/10 s)")
    for column in (
        "strategy",
        "events",
        "calls (reads + updates + upserts + other)",
        "API minimum",
        "naive",
        "calls / minimum",
        "calls / naive",
        "drain s",
        "limit floor s (our calls)",
        "drain / floor",
        "429s",
        "outcomes",
    ):
        table.add_column(column, justify="left" if column in ("strategy", "outcomes") else "right")
    for r in results:
        floor = least_time_s(r.calls)
        table.add_row(
            r.scenario,
            f"{r.events:,}",
            f"{r.calls:,} ({r.reads:,} + {r.updates:,} + {r.upserts:,} + {r.other_calls})",
            f"{r.minimum_calls:,}",
            f"{r.naive_calls:,}",
            f"{r.calls / r.minimum_calls:.3f}",
            f"{r.calls / r.naive_calls:.3f}",
            f"{r.drained_s:.1f}",
            f"{floor:.1f}",
            f"{r.drained_s / floor:.3f}" if floor else "-",
            str(r.too_many_requests),
            ", ".join(f"{k} {v:,}" for k, v in sorted(r.outcomes.items())),
        )
    Console(width=220).print(table)
    for r in results:
        print(
            f"{r.scenario}/{r.events}: webhooks accepted in {r.accepted_s:.1f} s, "
            f"p50 {r.webhook_p50_ms:.1f} ms, p99 {r.webhook_p99_ms:.1f} ms"
        )


def _chat_end(customer_id: str, phone: str) -> dict[str, object]:
    now = datetime.now(UTC)
    visitor = Visitor(
        id=str(uuid.uuid4()), phone=phone, custom_variables={"customer_id": customer_id}
    )
    return chat_ended(
        visitor=visitor, chat=Chat(id=str(uuid.uuid4()), start_time=now, end_time=now)
    )


def _endpoint(method: str, path: str) -> str:
    lowered = path.lower()
    if lowered.endswith("/attributes") and method == "GET":
        return "read"
    if lowered.endswith("/updatecustomerattributes"):
        return "update"
    if lowered.endswith("/upsertcustomer"):
        return "upsert"
    return f"{method} {path}"


def _outcomes(stack: Stack, site_id: int) -> dict[str, int]:
    with stack.engine.connect() as connection:
        rows = connection.execute(
            select(SyncRecord.outcome, func.count())
            .where(SyncRecord.site_id == site_id)
            .group_by(SyncRecord.outcome)
        ).all()
    return {str(outcome): count for outcome, count in rows}


def _wait_until_settled(
    stack: Stack,
    site_id: int,
    events: int,
    *,
    timeout_s: float,
    progress: Callable[[int], None],
) -> None:
    deadline = time.monotonic() + timeout_s
    reported = time.monotonic()
    while time.monotonic() < deadline:
        with stack.engine.connect() as connection:
            settled = connection.execute(
                select(func.count())
                .select_from(SyncRecord)
                .where(SyncRecord.site_id == site_id, SyncRecord.state.in_(("done", "failed")))
            ).scalar_one()
        if settled >= events:
            return
        if time.monotonic() - reported > 60:
            progress(settled)
            reported = time.monotonic()
        time.sleep(0.5)
    raise SystemExit(f"not settled within {timeout_s:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", default="1000,10000", help="comma-separated burst sizes")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--json-out", type=Path, help="also write the results here")
    args = parser.parse_args()
    sizes = [int(size) for size in args.events.split(",")]
    scenarios = args.scenarios.split(",")
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"--scenarios: unknown {sorted(unknown)}; choose from {SCENARIOS}")
    lock = threading.Lock()

    def progress(message: str) -> None:
        with lock:
            print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    runs = [(scenario, size) for size in sizes for scenario in scenarios]
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        futures = [pool.submit(run_scenario, s, n, progress) for s, n in runs]
        results = [future.result() for future in futures]
    print_table(results)
    failures = [
        r
        for r in results
        if r.too_many_requests or r.outcomes != {EXPECTED_OUTCOME[r.scenario]: r.events}
    ]
    if args.json_out:
        args.json_out.write_text(json.dumps([asdict(r) for r in results], indent=2))
    if failures:
        raise SystemExit(f"unexpected outcomes or 429s: {[asdict(r) for r in failures]}")


if __name__ == "__main__":
    main()
