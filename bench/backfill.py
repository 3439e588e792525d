"""How fast a backfill replays past chats, beside the floor Optimove's budget sets.

    .venv/bin/python -m bench.backfill                  # 500 past chats
    .venv/bin/python -m bench.backfill --chats 2000

One stack (the service with its in-process worker, and both sandboxes, each a separate process;
SQLite). N past chats are seeded in the Comm100 sandbox, each of a different customer that
Optimove has with an empty phone (`fill_empty`: one field to write each, a cold read cache: the
worst case for reads), and one backfill of the period is started through the API and followed
until it is done.

A backfill runs on the budget's lowest lane: with nothing else running it may use 45 of every
50 calls per 10 s (5 are kept free for agents and live events, `domain/budget.py`). Its floor is
the least time that allows for the Optimove calls it made (one read per conversation, no bulk
read exists; one UpdateCustomerAttributes per 1,000 customers): the conversations per minute
reported stand beside the most that floor allows. Comm100's listing (50 conversations a call,
300 calls per 5 minutes) is far from binding.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from tests.sync.stack import Stack, running_stack

LIMIT_PER_WINDOW = 50
BACKGROUND_PER_WINDOW = 45  # the limit less domain.budget.BACKGROUND_HEADROOM
WINDOW_S = 10.0


@dataclass(frozen=True)
class Result:
    chats: int
    drained_s: float
    reads: int
    updates: int
    other_calls: int
    too_many_requests: int
    comm100_calls: int
    backfill: dict[str, Any]

    @property
    def calls(self) -> int:
        return self.reads + self.updates + self.other_calls

    @property
    def per_minute(self) -> float:
        return self.chats * 60 / self.drained_s


def least_time_s(calls: int, per_window: int) -> float:
    """A sliding window lets `per_window` calls go at once, then as many every window."""
    return max(0, math.ceil(calls / per_window) - 1) * WINDOW_S


def seed(stack: Stack, chats: int, day: datetime) -> None:
    for number in range(1, chats + 1):
        customer = stack.seed_customer(EMAIL=f"c{number}@example.com", PHONE="")
        ended = day + timedelta(seconds=10 * number)
        stack.comm100.put(
            f"/_sandbox/chats/{number}",
            json={
                "startTime": _iso(ended - timedelta(seconds=5)),
                "endTime": _iso(ended),
                "preChatPhone": f"+1 666 {number:05d}",
                "visitor": {
                    "id": str(uuid.uuid4()),
                    "customVariables": [{"name": "customer_id", "value": customer}],
                },
            },
        ).raise_for_status()


def run(chats: int, progress: Any) -> Result:
    day = datetime.now(UTC) - timedelta(days=2)
    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp)) as stack:
        site = stack.new_site()
        seed(stack, chats, day)
        stack.optimove.delete("/_sandbox/requests").raise_for_status()
        stack.comm100.delete("/_sandbox/requests").raise_for_status()
        progress(f"{chats} past chats seeded, backfilling")
        started = time.monotonic()
        response = stack.admin.post(
            f"/sites/{site.site_id}/backfills",
            json={
                "channel": "livechat",
                "since": _iso(day),
                "until": _iso(day + timedelta(days=1)),
            },
        )
        response.raise_for_status()
        backfill_id = response.json()["id"]
        backfill = _until_over(stack, site.site_id, backfill_id, chats, progress)
        drained_s = time.monotonic() - started
        requests = stack.optimove.get("/_sandbox/requests").json()
        comm100_calls = len(stack.comm100.get("/_sandbox/requests").json())
    kinds = Counter(_endpoint(r["method"], r["path"]) for r in requests)
    statuses = Counter(r["status"] for r in requests)
    return Result(
        chats=chats,
        drained_s=drained_s,
        reads=kinds.pop("read", 0),
        updates=kinds.pop("update", 0),
        other_calls=sum(kinds.values()),
        too_many_requests=statuses.get(429, 0),
        comm100_calls=comm100_calls,
        backfill=backfill,
    )


def _until_over(
    stack: Stack, site_id: int, backfill_id: int, chats: int, progress: Any
) -> dict[str, Any]:
    deadline = time.monotonic() + least_time_s(chats, BACKGROUND_PER_WINDOW) * 2 + 300
    reported = time.monotonic()
    while time.monotonic() < deadline:
        backfill: dict[str, Any] = stack.admin.get(
            f"/sites/{site_id}/backfills/{backfill_id}"
        ).json()
        if backfill["state"] in ("done", "failed", "cancelled"):
            return backfill
        if time.monotonic() - reported > 30:
            progress(f"{backfill['done']}/{chats} done, ETA {backfill['eta_s']}")
            reported = time.monotonic()
        time.sleep(0.5)
    raise SystemExit("the backfill did not finish in time")


def print_result(result: Result) -> None:
    background_floor = least_time_s(result.calls, BACKGROUND_PER_WINDOW)
    budget_floor = least_time_s(result.calls, LIMIT_PER_WINDOW)
    table = Table(title="A backfill of past chats (fill_empty, cold cache, 50 calls / 10 s)")
    for column in (
        "chats",
        "Optimove calls (reads + updates + other)",
        "took s",
        "per minute",
        "background floor s (45/10)",
        "per minute at that floor",
        "took / floor",
        "budget floor s (50/10)",
        "429s",
        "Comm100 calls",
        "counts",
    ):
        table.add_column(column, justify="right")
    b = result.backfill
    table.add_row(
        f"{result.chats:,}",
        f"{result.calls:,} ({result.reads:,} + {result.updates} + {result.other_calls})",
        f"{result.drained_s:.1f}",
        f"{result.per_minute:.0f}",
        f"{background_floor:.1f}",
        f"{result.chats * 60 / background_floor:.0f}" if background_floor else "-",
        f"{result.drained_s / background_floor:.3f}" if background_floor else "-",
        f"{budget_floor:.1f}",
        str(result.too_many_requests),
        str(result.comm100_calls),
        f"{b['state']}: total {b['total']}, done {b['done']}, skipped {b['skipped']}, "
        f"failed {b['failed']}",
    )
    Console(width=220).print(table)


def _endpoint(method: str, path: str) -> str:
    lowered = path.lower()
    if lowered.endswith("/attributes") and method == "GET":
        return "read"
    if lowered.endswith("/updatecustomerattributes"):
        return "update"
    return f"{method} {path}"


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--chats", type=int, default=500, help="past chats to backfill")
    args = parser.parse_args()

    def progress(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    result = run(args.chats, progress)
    print_result(result)
    b = result.backfill
    if b["state"] != "done" or b["done"] != result.chats or result.too_many_requests:
        raise SystemExit(f"unexpected: {b}, {result.too_many_requests} answers 429")


if __name__ == "__main__":
    main()
