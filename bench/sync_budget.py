"""How much of Optimove's budget a burst of chat_ended events costs, beside the naive figure.

Starts the service (with its worker) and both sandboxes as separate processes, seeds N existing
customers, sends N chat_ended webhooks (each changes one empty field: fill_empty), waits until
every record is settled, and counts the Optimove calls the sandbox received.

    .venv/bin/python -m bench.sync_budget [--events 1000]

The sandbox enforces Optimove's real limit (50 calls per 10 s per key), so the time to drain is
bounded by it; the naive design (one read and one write per event) is shown beside ours.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from tests.sync.stack import Stack, default_settings, running_stack

from optibridge.sandbox.comm100_payloads import Chat, Visitor, chat_ended
from optibridge.store.models import SyncRecord

LIMIT_PER_WINDOW = 50
WINDOW_S = 10.0


def run(events: int) -> None:
    console = Console()
    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp)) as stack:
        section = default_settings("", "")["livechat"]
        section["on_chat_end"] = {"update": "fill_empty", "no_match": "never"}
        site = stack.new_site(livechat=section)
        customers = [
            stack.seed_customer(EMAIL=f"c{i}@example.com", PHONE="") for i in range(events)
        ]
        stack.optimove.delete("/_sandbox/requests").raise_for_status()

        started = time.monotonic()
        latencies = []
        for index, customer in enumerate(customers):
            sent = time.perf_counter()
            response = stack.send(site.livechat_url, _chat_end(customer, f"+1 555 {index:04d}"))
            latencies.append(time.perf_counter() - sent)
            assert response.status_code == 202, response.text
        accepted_s = time.monotonic() - started
        _wait_until_settled(stack, site.site_id, events, timeout_s=events * 2.0 + 120)
        drained_s = time.monotonic() - started

        requests = stack.optimove.get("/_sandbox/requests").json()
        by_endpoint = Counter(f"{r['method']} {_endpoint(r['path'])}" for r in requests)
        statuses = Counter(r["status"] for r in requests)
        outcomes = _outcomes(stack, site.site_id)

    calls = len(requests)
    naive_calls = 2 * events
    latencies.sort()
    table = Table(title=f"{events} chat_ended events, fill_empty, existing customers, cold cache")
    table.add_column("measure")
    table.add_column("optibridge", justify="right")
    table.add_column("naive (read + write per event)", justify="right")
    table.add_column("ratio", justify="right")
    table.add_row("Optimove calls", str(calls), str(naive_calls), f"{calls / naive_calls:.3f}")
    table.add_row("calls per event", f"{calls / events:.3f}", "2.000", f"{calls / naive_calls:.3f}")
    table.add_row(
        "time to drain (s)",
        f"{drained_s:.1f}",
        f"≥ {least_time_s(naive_calls):.1f} (limit-bound)",
        f"{drained_s / least_time_s(naive_calls):.3f}",
    )
    table.add_row(
        "least time the limit allows for our calls (s)", f"{least_time_s(calls):.1f}", "", ""
    )
    table.add_row("429 answers", str(statuses.get(429, 0)), "", "")
    table.add_row("webhooks accepted in (s)", f"{accepted_s:.1f}", "", "")
    table.add_row(
        "webhook latency p50 / p99 (ms)",
        f"{latencies[len(latencies) // 2] * 1000:.1f} / "
        f"{latencies[int(len(latencies) * 0.99)] * 1000:.1f}",
        "",
        "",
    )
    console.print(table)
    console.print(f"calls by endpoint: {dict(by_endpoint)}")
    console.print(f"outcomes: {outcomes}")


def least_time_s(calls: int) -> float:
    """A sliding window of 50 per 10 s lets 50 calls go at once, then 50 more every 10 s."""
    return max(0, math.ceil(calls / LIMIT_PER_WINDOW) - 1) * WINDOW_S


def _chat_end(customer_id: str, phone: str) -> dict[str, object]:
    now = datetime.now(UTC)
    visitor = Visitor(
        id=str(uuid.uuid4()), phone=phone, custom_variables={"customer_id": customer_id}
    )
    return chat_ended(
        visitor=visitor, chat=Chat(id=str(uuid.uuid4()), start_time=now, end_time=now)
    )


def _endpoint(path: str) -> str:
    return "Customers/{id}/Attributes" if path.lower().endswith("/attributes") else path


def _outcomes(stack: Stack, site_id: int) -> dict[str, int]:
    with stack.engine.connect() as connection:
        rows = connection.execute(
            select(SyncRecord.outcome, func.count())
            .where(SyncRecord.site_id == site_id)
            .group_by(SyncRecord.outcome)
        ).all()
    return {str(outcome): count for outcome, count in rows}


def _wait_until_settled(stack: Stack, site_id: int, events: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with stack.engine.connect() as connection:
            settled = connection.execute(
                select(func.count())
                .select_from(SyncRecord)
                .where(SyncRecord.site_id == site_id, SyncRecord.state.in_(("done", "failed")))
            ).scalar_one()
        if settled >= events:
            return
        time.sleep(0.5)
    raise SystemExit(f"not settled within {timeout_s} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    run(parser.parse_args().events)
